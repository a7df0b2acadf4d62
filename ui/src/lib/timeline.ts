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

/** Events at one-second resolution; the chart regroups them into as many buckets as fit. */
export class Timeline {
  private readonly perSecond = new Map<number, Bucket>();
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

  addTransitions(transitions: readonly Transition[]) {
    for (const t of transitions) {
      const s = seriesOf(t.to);
      if (s) this.add(s, t.at);
    }
  }

  /** Seeds from current rows: each target's latest status at its last update. */
  seed(rows: readonly TargetRow[]) {
    for (const r of rows) {
      const s = seriesOf(r.status);
      if (s) this.add(s, r.updated_at);
    }
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
