import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { appInfo, demoInfo, IpcError, toIpcError } from "./ipc";

beforeAll(() => {
  // The mocks install themselves on `window`; vitest runs in plain Node.
  (globalThis as { window?: unknown }).window ??= globalThis;
});
afterEach(() => clearMocks());

describe("toIpcError", () => {
  it("keeps a boundary error's code and message", () => {
    const err = toIpcError({ code: "not_found", message: "no such deployment" });
    expect(err).toBeInstanceOf(IpcError);
    expect(err.code).toBe("not_found");
    expect(err.message).toBe("no such deployment");
  });

  it("wraps Tauri's bare string errors as internal", () => {
    const err = toIpcError("Command app_info not allowed by ACL");
    expect(err.code).toBe("internal");
    expect(err.message).toBe("Command app_info not allowed by ACL");
  });

  it("does not trust an unknown code", () => {
    const err = toIpcError({ code: "teapot", message: "short and stout" });
    expect(err.code).toBe("internal");
  });
});

describe("appInfo", () => {
  it("calls the app_info command", async () => {
    mockIPC((cmd) => {
      if (cmd === "app_info") return { product: "Storefleet", core_version: "9.9.9" };
      throw new Error(`unexpected command ${cmd}`);
    });
    await expect(appInfo()).resolves.toEqual({ product: "Storefleet", core_version: "9.9.9" });
  });

  it("rejects with an IpcError carrying the command's code", async () => {
    mockIPC(() => {
      throw { code: "invalid_input", message: "bad" };
    });
    await expect(appInfo()).rejects.toMatchObject({ code: "invalid_input", message: "bad" });
  });
});

describe("demoInfo", () => {
  it("calls the demo_info command", async () => {
    const info = {
      broker_url: "mqtt://127.0.0.1:41883",
      stores: 4,
      controllers: 24,
      firmware_version: "2.4.1",
      firmware_path: "/tmp/demo/fw.bin",
      fleet_csv: "/tmp/demo/fleet.csv",
    };
    mockIPC((cmd) => {
      if (cmd === "demo_info") return info;
      throw new Error(`unexpected command ${cmd}`);
    });
    await expect(demoInfo()).resolves.toEqual(info);
  });
});

describe("typed wrappers", () => {
  it("passes camelCase arguments as the contract says", async () => {
    const seen: [string, unknown][] = [];
    mockIPC((cmd, args) => {
      seen.push([cmd, args]);
      return null;
    });
    const { activitySearch, deploymentAction, deploymentExport, fleetAdd, fleetImportCsv, historyList, historySearch, saveFile } = await import("./ipc");
    await deploymentAction("retry", "dep-1");
    await fleetAdd("s1", "c1", null, "till");
    await historyList(null);
    await saveFile("Export", "dep-1.csv");
    await fleetImportCsv("h-open");
    await deploymentExport("dep-1", "html", "h-save");
    const filter = { text: null, store_id: "s1", controller_id: null, firmware_version: null, state: null, origin: null, from: null, to: null };
    await historySearch(filter, { offset: 50, limit: 50 });
    await activitySearch({ ...filter, event_type: null, outcomes: ["applied"] }, { before: 1234, limit: 200 });
    expect(seen).toEqual([
      ["deployment_retry", { deploymentId: "dep-1" }],
      ["fleet_add", { storeId: "s1", controllerId: "c1", storeName: null, controllerName: "till" }],
      ["history_list", { query: null }],
      ["save_file", { title: "Export", defaultName: "dep-1.csv" }],
      // File commands take the dialog's handle, never a path.
      ["fleet_import_csv", { file: "h-open" }],
      ["deployment_export", { deploymentId: "dep-1", format: "html", file: "h-save" }],
      ["history_search", { filter, page: { offset: 50, limit: 50 } }],
      ["activity_search", { filter: { ...filter, event_type: null, outcomes: ["applied"] }, page: { before: 1234, limit: 200 } }],
    ]);
  });

  it("keeps the conflict and unavailable codes", async () => {
    mockIPC(() => {
      throw { code: "conflict", message: "already running" };
    });
    const { deploymentStart } = await import("./ipc");
    await expect(
      deploymentStart({ artifact_id: 1, serving: { kind: "built_in" }, targets: [], ack_timeout_secs: 1, completion_timeout_secs: 1, policy: null, skip_current: false }),
    ).rejects.toMatchObject({ code: "conflict" });
    expect(toIpcError({ code: "unavailable", message: "broker offline" }).code).toBe("unavailable");
  });

  it("delivers channel batches until unsubscribed", async () => {
    let channel: { onmessage: (m: unknown) => void } | null = null;
    mockIPC((cmd, args) => {
      if (cmd === "deployment_watch") channel = (args as { onEvent: typeof channel }).onEvent;
      return null;
    });
    const { deploymentWatch } = await import("./ipc");
    const got: unknown[] = [];
    const stop = await deploymentWatch("dep-1", (feed) => got.push(feed));
    channel!.onmessage({ kind: "transitions", transitions: [] });
    stop();
    channel!.onmessage({ kind: "transitions", transitions: [] });
    expect(got).toHaveLength(1);
  });

  it("reports hashing progress through the onProgress channel", async () => {
    mockIPC((cmd, args) => {
      if (cmd !== "firmware_add") return null;
      const ch = (args as { onProgress: { onmessage: (m: unknown) => void } }).onProgress;
      ch.onmessage({ bytes_done: 50, bytes_total: 100 });
      ch.onmessage({ bytes_done: 100, bytes_total: 100 });
      return { id: 1 };
    });
    const { firmwareAdd } = await import("./ipc");
    const progress: number[] = [];
    await firmwareAdd("h-fw", "1.0", (p) => progress.push(p.bytes_done));
    expect(progress).toEqual([50, 100]);
  });
});
