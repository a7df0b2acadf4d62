// What the overview shows at a glance, computed from the fleet, the history and the
// deployments' details: plain functions, so the numbers are tested without a window.
import type { ArtifactView } from "../bindings/ArtifactView";
import type { Controller } from "../bindings/Controller";
import type { DeploymentDetail } from "../bindings/DeploymentDetail";
import type { DeploymentRow } from "../bindings/DeploymentRow";
import type { DeploymentState } from "../bindings/DeploymentState";
import type { DeploymentSummary } from "../bindings/DeploymentSummary";
import type { NewDeployment } from "../bindings/NewDeployment";
import type { StatusCounts } from "../bindings/StatusCounts";
import type { TargetStatus } from "../bindings/TargetStatus";
import { groupByStore, selectionKey } from "./fleet";
import { isProblem } from "./status";
import { emptyDraft, toRequest } from "./wizard";

/** A controller that has reported no version (never completed a deployment we know of). */
export const UNKNOWN_VERSION = "unknown";

const natural = new Intl.Collator("en", { numeric: true });

/** Newest version first, the unknown one last. */
export function compareVersions(a: string, b: string): number {
  if (a === b) return 0;
  if (a === UNKNOWN_VERSION) return 1;
  if (b === UNKNOWN_VERSION) return -1;
  return natural.compare(b, a);
}

export type VersionCount = { version: string; count: number };

function countVersions(controllers: readonly Controller[]): VersionCount[] {
  const by = new Map<string, number>();
  for (const c of controllers) {
    const v = c.firmware_version ?? UNKNOWN_VERSION;
    by.set(v, (by.get(v) ?? 0) + 1);
  }
  return [...by].map(([version, count]) => ({ version, count })).sort((a, b) => compareVersions(a.version, b.version));
}

export type StoreVersions = { store_id: string; store_name: string | null; total: number; versions: VersionCount[] };

export type FirmwareChart = {
  total: number;
  /** Every version in the fleet, newest first (the legend and the colours follow this order). */
  versions: VersionCount[];
  stores: StoreVersions[];
};

/** Controllers by the firmware version they last reported, overall and per store. */
export function firmwareChart(controllers: readonly Controller[]): FirmwareChart {
  return {
    total: controllers.length,
    versions: countVersions(controllers),
    stores: groupByStore(controllers).map((g) => ({
      store_id: g.store_id,
      store_name: g.store_name,
      total: g.controllers.length,
      versions: countVersions(g.controllers),
    })),
  };
}

/**
 * How long a controller may stay unheard before the overview calls it silent. Controllers
 * speak only when a deployment talks to them (the protocol has no heartbeat), so this is long.
 */
export const SILENT_AFTER_MS = 7 * 86_400_000;

/**
 * Silent: never heard on the broker, not heard for SILENT_AFTER_MS, or its last command
 * timed out (it did not answer).
 */
export function isSilent(c: Controller, now: number, silentAfter = SILENT_AFTER_MS): boolean {
  return c.last_seen === null || now - c.last_seen > silentAfter || c.last_result === "timed_out";
}

export type StoreTrouble = {
  store_id: string;
  store_name: string | null;
  total: number;
  /** Controllers whose last result is a failure. */
  failed: number;
  silent: number;
};

/** Stores with a failed or a silent controller, the most troubled first. */
export function troubledStores(controllers: readonly Controller[], now: number, silentAfter = SILENT_AFTER_MS): StoreTrouble[] {
  const out: StoreTrouble[] = [];
  for (const g of groupByStore(controllers)) {
    let failed = 0;
    let silent = 0;
    for (const c of g.controllers) {
      if (c.last_result === "failed") failed += 1;
      if (isSilent(c, now, silentAfter)) silent += 1;
    }
    if (failed + silent > 0) out.push({ store_id: g.store_id, store_name: g.store_name, total: g.controllers.length, failed, silent });
  }
  // Stable: stores with the same trouble stay in id order.
  return out.sort((a, b) => b.failed + b.silent - (a.failed + a.silent));
}

/** A deployment still under way, as the overview follows it live. */
export type LiveRow = {
  deployment_id: string;
  firmware_version: string;
  created_at: number;
  total: number;
  counts: StatusCounts;
  state: DeploymentState;
  paused_reason: string | null;
  origin: string;
};

export const isUnfinished = (row: DeploymentRow) => row.state === "running" || row.state === "paused";

/** The running and paused deployments of the history, newest first. */
export function unfinished(rows: readonly DeploymentRow[]): LiveRow[] {
  return rows
    .filter(isUnfinished)
    .sort((a, b) => b.created_at - a.created_at)
    .map((r) => ({
      deployment_id: r.deployment_id,
      firmware_version: r.firmware_version,
      created_at: r.created_at,
      total: r.target_count,
      counts: { ...r.counts },
      state: r.state,
      paused_reason: r.paused_reason,
      origin: r.origin,
    }));
}

/** The row updated by a live summary of its deployment. */
export function withSummary(row: LiveRow, s: DeploymentSummary): LiveRow {
  return { ...row, total: s.total, counts: { ...s.counts }, state: s.state, paused_reason: s.paused_reason };
}

/** Targets done (completed, failed, timed out or cancelled) of the whole. */
export function doneCount(c: StatusCounts): number {
  return c.completed + c.failed + c.timed_out + c.cancelled;
}

export const problemCount = (c: StatusCounts) => c.failed + c.timed_out;

/** The newest deployments that had failures, whose details the overview reads. */
export function withFailures(rows: readonly DeploymentRow[], limit: number): string[] {
  return [...rows]
    .filter((r) => problemCount(r.counts) > 0)
    .sort((a, b) => b.created_at - a.created_at)
    .slice(0, limit)
    .map((r) => r.deployment_id);
}

export type FailureRow = {
  deployment_id: string;
  firmware_version: string;
  store_id: string;
  controller_id: string;
  status: TargetStatus;
  errors: string[];
  at: number;
};

/** The latest failed or timed-out targets over the given deployments, newest first. */
export function lastFailures(details: readonly DeploymentDetail[], limit: number): FailureRow[] {
  const out: FailureRow[] = [];
  for (const d of details) {
    for (const t of d.targets) {
      if (!isProblem(t.status)) continue;
      out.push({
        deployment_id: d.summary.deployment_id,
        firmware_version: d.summary.firmware_version,
        store_id: t.store_id,
        controller_id: t.controller_id,
        status: t.status,
        errors: t.errors,
        at: t.updated_at,
      });
    }
  }
  return out.sort((a, b) => b.at - a.at).slice(0, limit);
}

/** The demo's rollout: a small canary, then the rest in three waves that go on by themselves. */
export function demoWaves(targets: number): { canary: number; waveSize: number } {
  const canary = Math.min(targets, Math.max(1, Math.round(targets / 12)));
  const waveSize = Math.max(1, Math.ceil((targets - canary) / 3));
  return { canary, waveSize };
}

/**
 * The sample firmware in the library: the artifact registered from the demo's file. The demo
 * registers it when it starts, so it is normally there.
 */
export function sampleArtifact(artifacts: readonly ArtifactView[], path: string): ArtifactView | null {
  return artifacts.find((a) => a.path === path) ?? null;
}

/**
 * The wizard's request for the sample firmware to every controller: built as the wizard
 * builds it (its default timeouts and built-in serving), with a canary then waves, and
 * auto advance that pauses if under 80 % of a wave completed.
 */
export function demoRequest(artifactId: number, controllers: readonly Controller[]): NewDeployment {
  const draft = emptyDraft();
  const { canary, waveSize } = demoWaves(controllers.length);
  draft.artifactId = artifactId;
  // In fleet order, store by store: the canary is the first store's first controllers.
  draft.targets = groupByStore(controllers).flatMap((g) => g.controllers.map((c) => selectionKey(c.store_id, c.controller_id)));
  draft.canary = String(canary);
  draft.waveSize = String(waveSize);
  draft.minSuccess = "80";
  return toRequest(draft);
}
