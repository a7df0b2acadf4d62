// The one module that talks to the Rust side. Components import from here, never from
// `@tauri-apps/api` directly, so every call is typed and every error has the same shape.
import { Channel, invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import type { ActivityFeed } from "../bindings/ActivityFeed";
import type { Advance } from "../bindings/Advance";
import type { AppInfo } from "../bindings/AppInfo";
import type { ArtifactView } from "../bindings/ArtifactView";
import type { BoundaryError } from "../bindings/BoundaryError";
import type { BrokerProfile } from "../bindings/BrokerProfile";
import type { ConnectionState } from "../bindings/ConnectionState";
import type { ConnectionStatus } from "../bindings/ConnectionStatus";
import type { Controller } from "../bindings/Controller";
import type { ControllerSource } from "../bindings/ControllerSource";
import type { DemoInfo } from "../bindings/DemoInfo";
import type { DeploymentDetail } from "../bindings/DeploymentDetail";
import type { DeploymentFeed } from "../bindings/DeploymentFeed";
import type { DeploymentFilter } from "../bindings/DeploymentFilter";
import type { DeploymentPage } from "../bindings/DeploymentPage";
import type { DeploymentPageRequest } from "../bindings/DeploymentPageRequest";
import type { DeploymentReview } from "../bindings/DeploymentReview";
import type { DeploymentState } from "../bindings/DeploymentState";
import type { DeploymentSummary } from "../bindings/DeploymentSummary";
import type { ErrorCode } from "../bindings/ErrorCode";
import type { ExportFormat } from "../bindings/ExportFormat";
import type { FailureThreshold } from "../bindings/FailureThreshold";
import type { FirmwareFeed } from "../bindings/FirmwareFeed";
import type { HashProgress } from "../bindings/HashProgress";
import type { HistoryEntry } from "../bindings/HistoryEntry";
import type { ImportReport } from "../bindings/ImportReport";
import type { MessageFilter } from "../bindings/MessageFilter";
import type { MessagePage } from "../bindings/MessagePage";
import type { MessagePageRequest } from "../bindings/MessagePageRequest";
import type { MessageRow } from "../bindings/MessageRow";
import type { NewDeployment } from "../bindings/NewDeployment";
import type { Notice } from "../bindings/Notice";
import type { Origin } from "../bindings/Origin";
import type { PickedFile } from "../bindings/PickedFile";
import type { PreflightReport } from "../bindings/PreflightReport";
import type { ProfileInput } from "../bindings/ProfileInput";
import type { PrunePlan } from "../bindings/PrunePlan";
import type { PruneReport } from "../bindings/PruneReport";
import type { RolloutPolicy } from "../bindings/RolloutPolicy";
import type { ServerReach } from "../bindings/ServerReach";
import type { ServerSettings } from "../bindings/ServerSettings";
import type { ServerStatus } from "../bindings/ServerStatus";
import type { ServingChoice } from "../bindings/ServingChoice";
import type { ScheduleChoice } from "../bindings/ScheduleChoice";
import type { StatusCounts } from "../bindings/StatusCounts";
import type { StorePlan } from "../bindings/StorePlan";
import type { StoreSettings } from "../bindings/StoreSettings";
import type { StoreWait } from "../bindings/StoreWait";
import type { TargetRow } from "../bindings/TargetRow";
import type { TargetStatus } from "../bindings/TargetStatus";
import type { Transition } from "../bindings/Transition";
import type { WaveProgress } from "../bindings/WaveProgress";

export type {
  ActivityFeed,
  Advance,
  AppInfo,
  ArtifactView,
  BoundaryError,
  BrokerProfile,
  ConnectionState,
  ConnectionStatus,
  Controller,
  ControllerSource,
  DemoInfo,
  DeploymentDetail,
  DeploymentFeed,
  DeploymentFilter,
  DeploymentPage,
  DeploymentPageRequest,
  DeploymentReview,
  DeploymentState,
  DeploymentSummary,
  ErrorCode,
  ExportFormat,
  FailureThreshold,
  FirmwareFeed,
  HashProgress,
  HistoryEntry,
  ImportReport,
  MessageFilter,
  MessagePage,
  MessagePageRequest,
  MessageRow,
  NewDeployment,
  Notice,
  Origin,
  PickedFile,
  PreflightReport,
  ProfileInput,
  PrunePlan,
  PruneReport,
  RolloutPolicy,
  ScheduleChoice,
  ServerReach,
  ServerSettings,
  ServerStatus,
  ServingChoice,
  StatusCounts,
  StorePlan,
  StoreSettings,
  StoreWait,
  TargetRow,
  TargetStatus,
  Transition,
  WaveProgress,
};

// A record, not a list: the type check fails here when Rust adds or renames a code.
const ERROR_CODES: Record<ErrorCode, true> = {
  invalid_input: true,
  not_found: true,
  conflict: true,
  unavailable: true,
  internal: true,
};

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

/** A file filter for the native open dialog. */
export type FileFilter = { name: string; extensions: string[] };

/** Stops a live subscription; safe to call more than once. */
export type Unsubscribe = () => void;

/**
 * Opens a channel, hands it to `command`, and returns a function that stops delivery.
 * The Rust side notices the dropped channel on its next send and ends the feed.
 */
async function subscribe<T>(
  command: string,
  args: Record<string, unknown>,
  onEvent: (message: T) => void,
): Promise<Unsubscribe> {
  let open = true;
  const channel = new Channel<T>((message) => {
    if (open) onEvent(message);
  });
  await call<null>(command, { ...args, onEvent: channel });
  return () => {
    open = false;
  };
}

// Connection and broker profiles.

export const profilesList = () => call<BrokerProfile[]>("profiles_list");
export const profileSave = (profile: ProfileInput) => call<BrokerProfile>("profile_save", { profile });
export const profileRemove = (profileId: string) => call<null>("profile_remove", { profileId });
export const connect = (profileId: string) => call<ConnectionStatus>("connect", { profileId });
export const disconnect = () => call<ConnectionStatus>("disconnect");
/** The connection status now and on every change. */
export const connectionWatch = (onEvent: (status: ConnectionStatus) => void) =>
  subscribe<ConnectionStatus>("connection_watch", {}, onEvent);

// Native dialogs. The chosen path stays in Rust; the window gets a handle for it, which the
// file commands below take (they accept no path).

export const pickFile = (title: string, filters: FileFilter[]) =>
  call<PickedFile | null>("pick_file", { title, filters });
export const saveFile = (title: string, defaultName: string) =>
  call<PickedFile | null>("save_file", { title, defaultName });

// Fleet.

export const fleetList = () => call<Controller[]>("fleet_list");
/** `file`: the handle of a CSV the user picked with `pickFile`. */
export const fleetImportCsv = (file: string) => call<ImportReport>("fleet_import_csv", { file });
/** Every store with a time zone or maintenance windows. */
export const fleetStores = () => call<StoreSettings[]>("fleet_stores");
/** `zone`: an IANA name such as `Europe/Berlin`. */
export const fleetSetTimezone = (storeId: string, zone: string) =>
  call<StoreSettings>("fleet_set_timezone", { storeId, zone });
/** `windows`: like `Mon-Fri 22:00-05:00, Sat-Sun 23:00-06:00`; blank removes them. */
export const fleetSetWindows = (storeId: string, windows: string) =>
  call<StoreSettings>("fleet_set_windows", { storeId, windows });
export const fleetAdd = (
  storeId: string,
  controllerId: string,
  storeName: string | null,
  controllerName: string | null,
) => call<Controller>("fleet_add", { storeId, controllerId, storeName, controllerName });
/** Takes a controller out of the inventory; its deployment history stays. `not_found` when
 * it is not there. */
export const fleetRemove = (storeId: string, controllerId: string) => call<null>("fleet_remove", { storeId, controllerId });

// Firmware library.

export const firmwareList = () => call<ArtifactView[]>("firmware_list");

/** Hashes and registers a file (`file`: a `pickFile` handle); `onProgress` sees the bytes
 * hashed so far. */
export async function firmwareAdd(
  file: string,
  version: string,
  onProgress: (progress: HashProgress) => void,
): Promise<ArtifactView> {
  return call<ArtifactView>("firmware_add", { file, version, onProgress: new Channel(onProgress) });
}

export async function firmwareRehash(
  artifactId: number,
  onProgress: (progress: HashProgress) => void,
): Promise<ArtifactView> {
  return call<ArtifactView>("firmware_rehash", { artifactId, onProgress: new Channel(onProgress) });
}

export const firmwareRemove = (artifactId: number) => call<null>("firmware_remove", { artifactId });
export const firmwarePreflight = (url: string, artifactId: number) =>
  call<PreflightReport>("firmware_preflight", { url, artifactId });
/** Ids of firmware files that change after hashing, as the watcher sees them. */
export const firmwareWatch = (onEvent: (feed: FirmwareFeed) => void) =>
  subscribe<FirmwareFeed>("firmware_watch", {}, onEvent);

// The built-in firmware server.

export const serverStatus = () => call<ServerStatus>("server_status");
export const serverConfigure = (settings: ServerSettings) => call<ServerStatus>("server_configure", { settings });

// Deployments.

export const deploymentReview = (request: NewDeployment) =>
  call<DeploymentReview>("deployment_review", { request });
export const deploymentStart = (request: NewDeployment) =>
  call<DeploymentSummary>("deployment_start", { request });
export const deploymentDetail = (deploymentId: string) =>
  call<DeploymentDetail>("deployment_detail", { deploymentId });
/** The deployment's stores waiting for their maintenance window, and when each opens. */
export const deploymentWaits = (deploymentId: string) => call<StoreWait[]>("deployment_waits", { deploymentId });
/** Live batches of transitions, and a summary after each batch. */
export const deploymentWatch = (deploymentId: string, onEvent: (feed: DeploymentFeed) => void) =>
  subscribe<DeploymentFeed>("deployment_watch", { deploymentId }, onEvent);

export type DeploymentAction = "cancel" | "retry" | "pause" | "resume";
export const deploymentAction = (action: DeploymentAction, deploymentId: string) =>
  call<DeploymentSummary>(`deployment_${action}`, { deploymentId });
/** CSV, the raw message log (JSON Lines) or the HTML report; `file`: the handle of the file the user chose with `saveFile`. */
export const deploymentExport = (deploymentId: string, format: ExportFormat, file: string) =>
  call<null>("deployment_export", { deploymentId, format, file });

// History and activity.

export const historyList = (query: string | null) => call<HistoryEntry[]>("history_list", { query });
export const activityRecent = (limit: number) => call<MessageRow[]>("activity_recent", { limit });
/** A page of the deployments matching `filter`, newest first, with the total. */
export const historySearch = (filter: DeploymentFilter, page: DeploymentPageRequest) =>
  call<DeploymentPage>("history_search", { filter, page });
/** A page of the messages matching `filter`, newest first; `page.before` continues a search. */
export const activitySearch = (filter: MessageFilter, page: MessagePageRequest) =>
  call<MessagePage>("activity_search", { filter, page });
export const activityWatch = (onEvent: (feed: ActivityFeed) => void) =>
  subscribe<ActivityFeed>("activity_watch", {}, onEvent);

// Upkeep.

/** What a prune with this cut-off (unix ms) would remove; nothing changes. */
export const historyPrunePlan = (before: number) => call<PrunePlan>("history_prune_plan", { before });
/** Removes it, first into `archive` (a `saveFile` handle) when given, then vacuums. */
export const historyPrune = (before: number, archive: string | null) =>
  call<PruneReport>("history_prune", { before, archive });

/** App-wide notices (a deployment finished, a history write failed). */
export async function onNotice(handler: (notice: Notice) => void): Promise<Unsubscribe> {
  return listen<Notice>("notice", (event) => handler(event.payload));
}
