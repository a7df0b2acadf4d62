// Target statuses as the UI shows them: order, labels, and which ones count as trouble.
import type { StatusCounts } from "../bindings/StatusCounts";
import type { TargetStatus } from "../bindings/TargetStatus";

/** In the order a target moves through them; the counts strip uses this order. */
export const STATUSES: readonly TargetStatus[] = [
  "queued",
  "sent",
  "acknowledged",
  "completed",
  "failed",
  "timed_out",
  "cancel_requested",
  "cancelled",
  "skipped",
];

export const STATUS_LABEL: Record<TargetStatus, string> = {
  queued: "Queued",
  sent: "Sent",
  acknowledged: "Acknowledged",
  completed: "Completed",
  failed: "Failed",
  timed_out: "Timed out",
  cancel_requested: "Cancelling",
  cancelled: "Cancelled",
  skipped: "Skipped",
};

export function isTerminal(status: TargetStatus): boolean {
  return status === "completed" || status === "failed" || status === "cancelled" || status === "timed_out" || status === "skipped";
}

/** Failed or timed out: what the operator has to look at. */
export function isProblem(status: TargetStatus): boolean {
  return status === "failed" || status === "timed_out";
}

export function emptyCounts(): StatusCounts {
  return {
    queued: 0,
    sent: 0,
    acknowledged: 0,
    completed: 0,
    failed: 0,
    timed_out: 0,
    cancel_requested: 0,
    cancelled: 0,
    skipped: 0,
  };
}

export function totalOf(counts: StatusCounts): number {
  return STATUSES.reduce((sum, s) => sum + counts[s], 0);
}

/** Shares of the whole (0..1) for the progress bar's segments: done, problems, in flight. */
export function progressParts(counts: StatusCounts): { done: number; problems: number; inFlight: number; finished: number } {
  const total = totalOf(counts);
  if (total === 0) return { done: 0, problems: 0, inFlight: 0, finished: 0 };
  const done = counts.completed / total;
  const problems = (counts.failed + counts.timed_out) / total;
  const cancelled = (counts.cancelled + counts.skipped) / total;
  const inFlight = (counts.sent + counts.acknowledged + counts.cancel_requested) / total;
  return { done, problems, inFlight, finished: done + problems + cancelled };
}
