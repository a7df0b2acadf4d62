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
