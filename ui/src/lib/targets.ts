// A deployment's targets, keyed by store/controller, updated in place by live batches.
// Plain data (no Svelte proxies): 10,000 rows change hundreds of times a second, and the
// view re-reads only the rows on screen, once per frame, after `version` moves.
import type { StatusCounts } from "../bindings/StatusCounts";
import type { TargetRow } from "../bindings/TargetRow";
import type { TargetStatus } from "../bindings/TargetStatus";
import type { Transition } from "../bindings/Transition";
import { emptyCounts, isProblem } from "./status";

export const targetKey = (storeId: string, controllerId: string) => `${storeId}\u0000${controllerId}`;

export class TargetStore {
  readonly rows: TargetRow[] = [];
  readonly counts: StatusCounts = emptyCounts();
  /** Moves on every change: a cheap "anything new?" for the frame loop. */
  version = 0;
  /** Moves when the set of rows or any row's status changes (filters must be redone). */
  statusVersion = 0;
  private readonly index = new Map<string, number>();

  constructor(rows: TargetRow[] = []) {
    for (const row of rows) this.insert({ ...row, errors: [...row.errors] });
  }

  get size(): number {
    return this.rows.length;
  }

  get(storeId: string, controllerId: string): TargetRow | undefined {
    const i = this.index.get(targetKey(storeId, controllerId));
    return i === undefined ? undefined : this.rows[i];
  }

  private insert(row: TargetRow) {
    this.index.set(targetKey(row.store_id, row.controller_id), this.rows.length);
    this.rows.push(row);
    this.counts[row.status] += 1;
  }

  /** Applies a batch in order; returns how many rows changed. */
  apply(transitions: readonly Transition[]): number {
    let changed = 0;
    let statusChanged = false;
    for (const t of transitions) {
      const i = this.index.get(targetKey(t.store_id, t.controller_id));
      if (i === undefined) {
        this.insert({
          store_id: t.store_id,
          controller_id: t.controller_id,
          status: t.to,
          attempt: t.attempt,
          errors: t.errors,
          updated_at: t.at,
          wave: t.wave,
        });
        statusChanged = true;
      } else {
        const row = this.rows[i];
        // An older transition (an earlier attempt, or one the snapshot already includes)
        // must not undo a newer state.
        if (t.attempt < row.attempt || (t.attempt === row.attempt && t.at < row.updated_at)) continue;
        if (row.status !== t.to) {
          this.counts[row.status] -= 1;
          this.counts[t.to] += 1;
          row.status = t.to;
          statusChanged = true;
        }
        row.attempt = t.attempt;
        row.errors = t.errors;
        row.updated_at = t.at;
        row.wave = t.wave;
      }
      changed += 1;
    }
    if (changed > 0) this.version += 1;
    if (statusChanged) this.statusVersion += 1;
    return changed;
  }

  /**
   * Indices of rows matching `statuses` (empty set: all) and `query` (store or controller
   * id contains it, case-insensitive), in deployment order.
   */
  filter(statuses: ReadonlySet<TargetStatus>, query: string): number[] {
    const q = query.trim().toLowerCase();
    const out: number[] = [];
    const rows = this.rows;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      if (statuses.size > 0 && !statuses.has(r.status)) continue;
      if (q && !r.store_id.toLowerCase().includes(q) && !r.controller_id.toLowerCase().includes(q)) continue;
      out.push(i);
    }
    return out;
  }
}

export type ErrorGroup = { error: string; count: number };

/** The most common errors among failed and timed-out targets, most frequent first. */
export function commonErrors(rows: readonly TargetRow[], limit = 3): ErrorGroup[] {
  const by = new Map<string, number>();
  for (const r of rows) {
    if (!isProblem(r.status)) continue;
    const errors = r.errors.length > 0 ? r.errors : [r.status === "timed_out" ? "timed out" : "failed without an error"];
    for (const e of new Set(errors)) by.set(e, (by.get(e) ?? 0) + 1);
  }
  return [...by]
    .map(([error, count]) => ({ error, count }))
    .sort((a, b) => b.count - a.count || a.error.localeCompare(b.error))
    .slice(0, limit);
}
