// The one module that talks to the Rust side. Components import from here, never from
// `@tauri-apps/api` directly, so every call is typed and every error has the same shape.
import { invoke } from "@tauri-apps/api/core";
import type { AppInfo } from "../bindings/AppInfo";
import type { DemoInfo } from "../bindings/DemoInfo";
import type { BoundaryError } from "../bindings/BoundaryError";
import type { ErrorCode } from "../bindings/ErrorCode";

export type { AppInfo, BoundaryError, DemoInfo, ErrorCode };

// A record, not a list: the type check fails here when Rust adds or renames a code.
const ERROR_CODES: Record<ErrorCode, true> = { invalid_input: true, not_found: true, internal: true };

/** An IPC failure, always with a code the UI can branch on and a message to show. */
export class IpcError extends Error implements BoundaryError {
  readonly code: ErrorCode;

  constructor({ code, message }: BoundaryError) {
    super(message);
    this.name = "IpcError";
    this.code = code;
  }
}

/**
 * Turns whatever an invoke rejected with into an IpcError. Our commands reject with
 * `{code, message}`; Tauri itself rejects with bare strings (a denied permission, say).
 */
export function toIpcError(raw: unknown): IpcError {
  if (raw instanceof IpcError) return raw;
  if (typeof raw === "object" && raw !== null && "code" in raw && "message" in raw) {
    const { code, message } = raw as { code: unknown; message: unknown };
    if (typeof code === "string" && Object.hasOwn(ERROR_CODES, code) && typeof message === "string") {
      return new IpcError({ code: code as ErrorCode, message });
    }
  }
  const message = raw instanceof Error ? raw.message : typeof raw === "string" ? raw : JSON.stringify(raw);
  return new IpcError({ code: "internal", message });
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (raw) {
    throw toIpcError(raw);
  }
}

/** The product name and the core's version. */
export function appInfo(): Promise<AppInfo> {
  return call<AppInfo>("app_info");
}

/** The demo's embedded broker, simulated fleet and sample firmware; waits while it starts. */
export function demoInfo(): Promise<DemoInfo> {
  return call<DemoInfo>("demo_info");
}
