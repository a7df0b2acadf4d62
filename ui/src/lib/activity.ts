// The live message log: newest first, bounded, each row's outcome classified. Filtering is
// the core's (activity_search), over every row of the history.
import type { MessageRow } from "../bindings/MessageRow";

/**
 * Prepends a batch (oldest first in the batch) to a newest-first log, keeping `max`. A row
 * already in the log is replaced: the feed sends a command again once it left the outbox.
 */
export function prependBatch(log: readonly MessageRow[], batch: readonly MessageRow[], max: number): MessageRow[] {
  const seen = new Set(log.map((m) => m.id));
  const fresh = batch.filter((m) => !seen.has(m.id)).sort((a, b) => b.id - a.id);
  const again = new Map(batch.filter((m) => seen.has(m.id)).map((m) => [m.id, m]));
  const kept = again.size === 0 ? log : log.map((m) => again.get(m.id) ?? m);
  return fresh.concat(kept).slice(0, max);
}

/** Outcomes of a genuine reply that changed nothing (engine::UnchangedReason codes). */
const UNCHANGED = new Set(["duplicate", "stale_attempt", "already_reported", "cancel_requested", "cancelled", "timed_out"]);
const ACCEPTED = new Set(["applied", "own_echo", "observed", "outbox", "published", "withdrawn", ""]);

export type OutcomeKind = "accepted" | "unchanged" | "observed" | "rejected";

/** Anything but an accepted or unchanged outcome is a rejection code (decode or engine). */
export function outcomeKind(m: MessageRow): OutcomeKind {
  if (m.outcome === "observed") return "observed";
  if (UNCHANGED.has(m.outcome)) return "unchanged";
  if (ACCEPTED.has(m.outcome) || m.direction === "out") return "accepted";
  return "rejected";
}

export function isRejected(m: MessageRow): boolean {
  return outcomeKind(m) === "rejected";
}
