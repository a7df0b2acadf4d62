import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { appInfo, IpcError, toIpcError } from "./ipc";

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
