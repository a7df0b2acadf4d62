// Acks, completions and failures over time, counted in fixed buckets for the chart.
import type { TargetRow } from "../bindings/TargetRow";
import type { TargetStatus } from "../bindings/TargetStatus";
import type { Transition } from "../bindings/Transition";

export type Series = "acks" | "completions" | "failures";
export const SERIES: readonly Series[] = ["acks", "completions", "failures"];

/** Which series a status reached counts in, if any. */
export function seriesOf(to: TargetStatus): Series | null {
  if (to === "acknowledged") return "acks";
  if (to === "completed") return "completions";
  if (to === "failed" || to === "timed_out") return "failures";
  return null;
}

export type Bucket = { start: number; acks: number; completions: number; failures: number };

/**
 * What makes a transition the same one when it comes twice. The snapshot's row of a target
 * is its latest transition (`updated_at` is that transition's `at`), so a row and the live
 * transition that led to it have one identity.
 */
function identity(deploymentId: string, storeId: string, controllerId: string, attempt: number, to: TargetStatus, at: number): string {
  return `${deploymentId}\u0000${storeId}\u0000${controllerId}\u0000${attempt}\u0000${to}\u0000${at}`;
}

/** Events at one-second resolution; the chart regroups them into as many buckets as fit. */
export class Timeline {
  private readonly perSecond = new Map<number, Bucket>();
  /** Identities counted so far: the snapshot and the live feed overlap, redeliveries repeat. */
  private readonly counted = new Set<string>();
  start: number;
  end: number;

  constructor(start: number) {
    this.start = start;
    this.end = start;
  }

  add(series: Series, at: number, n = 1) {
    const sec = Math.floor(at / 1000) * 1000;
    let b = this.perSecond.get(sec);
    if (!b) {
      b = { start: sec, acks: 0, completions: 0, failures: 0 };
      this.perSecond.set(sec, b);
    }
    b[series] += n;
    if (at < this.start) this.start = at;
    if (at > this.end) this.end = at;
  }

  /** Counts each transition once, however often it comes. */
  addTransitions(transitions: readonly Transition[]) {
    for (const t of transitions) {
      const s = seriesOf(t.to);
      if (s && this.first(identity(t.deployment_id, t.store_id, t.controller_id, t.attempt, t.to, t.at))) this.add(s, t.at);
    }
  }

  /** Seeds from current rows: each target's latest status at its last update, once. */
  seed(deploymentId: string, rows: readonly TargetRow[]) {
    for (const r of rows) {
      const s = seriesOf(r.status);
      if (s && this.first(identity(deploymentId, r.store_id, r.controller_id, r.attempt, r.status, r.updated_at))) this.add(s, r.updated_at);
    }
  }

  private first(key: string): boolean {
    if (this.counted.has(key)) return false;
    this.counted.add(key);
    return true;
  }

  /** `count` equal buckets spanning [start, max(end, now)]. */
  buckets(count: number, now: number): { width: number; buckets: Bucket[] } {
    const end = Math.max(this.end, now, this.start + 1000);
    const width = Math.max(1000, Math.ceil((end - this.start + 1) / count / 1000) * 1000);
    const base = Math.floor(this.start / 1000) * 1000;
    const buckets: Bucket[] = [];
    for (let i = 0; i < count; i++) buckets.push({ start: base + i * width, acks: 0, completions: 0, failures: 0 });
    for (const [sec, b] of this.perSecond) {
      const i = Math.min(count - 1, Math.floor((sec - base) / width));
      if (i < 0) continue;
      buckets[i].acks += b.acks;
      buckets[i].completions += b.completions;
      buckets[i].failures += b.failures;
    }
    return { width, buckets };
  }
}
