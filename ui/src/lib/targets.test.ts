import { describe, expect, it } from "vitest";
import type { TargetRow } from "../bindings/TargetRow";
import type { TargetStatus } from "../bindings/TargetStatus";
import type { Transition } from "../bindings/Transition";
import { TargetStore, commonErrors } from "./targets";
import { progressParts, totalOf } from "./status";

const row = (store: string, ctl: string, status: TargetStatus = "queued", at = 0): TargetRow => ({
  store_id: store,
  controller_id: ctl,
  status,
  attempt: 1,
  errors: [],
  updated_at: at,
  wave: 0,
});

const tr = (store: string, ctl: string, from: TargetStatus, to: TargetStatus, at: number, attempt = 1, errors: string[] = []): Transition => ({
  deployment_id: "d",
  store_id: store,
  controller_id: ctl,
  attempt,
  from,
  to,
  at,
  errors,
  wave: 0,
});

describe("TargetStore", () => {
  it("counts the snapshot", () => {
    const s = new TargetStore([row("s1", "a"), row("s1", "b", "completed"), row("s2", "a", "failed")]);
    expect(s.counts.queued).toBe(1);
    expect(s.counts.completed).toBe(1);
    expect(s.counts.failed).toBe(1);
    expect(totalOf(s.counts)).toBe(3);
  });

  it("applies a batch in order and keeps counts consistent", () => {
    const s = new TargetStore([row("s1", "a"), row("s1", "b")]);
    const changed = s.apply([
      tr("s1", "a", "queued", "sent", 10),
      tr("s1", "a", "sent", "acknowledged", 20),
      tr("s1", "b", "queued", "sent", 20),
      tr("s1", "a", "acknowledged", "failed", 30, 1, ["flash write failed"]),
    ]);
    expect(changed).toBe(4);
    expect(s.get("s1", "a")).toMatchObject({ status: "failed", errors: ["flash write failed"], updated_at: 30 });
    expect(s.counts).toMatchObject({ queued: 0, sent: 1, failed: 1 });
    expect(totalOf(s.counts)).toBe(2);
  });

  it("ignores transitions older than what it has (snapshot overlap, earlier attempts)", () => {
    const s = new TargetStore([{ ...row("s1", "a", "completed", 100), attempt: 2 }]);
    s.apply([tr("s1", "a", "queued", "sent", 50, 2), tr("s1", "a", "sent", "failed", 200, 1, ["old"])]);
    expect(s.get("s1", "a")).toMatchObject({ status: "completed", attempt: 2 });
    expect(s.counts.completed).toBe(1);
  });

  it("takes a retry's new attempt", () => {
    const s = new TargetStore([row("s1", "a", "failed", 10)]);
    s.apply([tr("s1", "a", "failed", "queued", 20, 2)]);
    expect(s.get("s1", "a")).toMatchObject({ status: "queued", attempt: 2, errors: [] });
  });

  it("adds a target it did not know", () => {
    const s = new TargetStore([]);
    s.apply([tr("s9", "z", "queued", "sent", 5)]);
    expect(s.size).toBe(1);
    expect(s.counts.sent).toBe(1);
  });

  it("moves version on change, statusVersion only when a status changes", () => {
    const s = new TargetStore([row("s1", "a", "sent", 0)]);
    const v = s.version;
    const sv = s.statusVersion;
    s.apply([tr("s1", "a", "sent", "sent", 5)]);
    expect(s.version).toBe(v + 1);
    expect(s.statusVersion).toBe(sv);
    s.apply([]);
    expect(s.version).toBe(v + 1);
  });

  it("filters by status and search, in deployment order", () => {
    const s = new TargetStore([row("store-1", "pos-1", "failed"), row("store-2", "pos-1"), row("store-1", "scale-1", "timed_out")]);
    expect(s.filter(new Set(), "")).toEqual([0, 1, 2]);
    expect(s.filter(new Set(["failed", "timed_out"]), "")).toEqual([0, 2]);
    expect(s.filter(new Set(), "SCALE")).toEqual([2]);
    expect(s.filter(new Set(["queued"]), "store-1")).toEqual([]);
  });

  it("stays fast at 10,000 targets and 1,000 transitions", () => {
    const rows = Array.from({ length: 10_000 }, (_, i) => row(`s${Math.floor(i / 8)}`, `c${i % 8}`));
    const s = new TargetStore(rows);
    const batch = rows.slice(0, 1000).map((r) => tr(r.store_id, r.controller_id, "queued", "sent", 1));
    const t0 = performance.now();
    s.apply(batch);
    s.filter(new Set(["sent"]), "s1");
    expect(performance.now() - t0).toBeLessThan(50);
    expect(s.counts.sent).toBe(1000);
  });
});

describe("commonErrors", () => {
  it("groups errors of failed and timed-out targets, most frequent first", () => {
    const rows: TargetRow[] = [
      { ...row("a", "1", "failed"), errors: ["checksum mismatch", "aborted"] },
      { ...row("a", "2", "failed"), errors: ["checksum mismatch"] },
      row("a", "3", "timed_out"),
      { ...row("a", "4", "completed"), errors: ["ignored"] },
    ];
    expect(commonErrors(rows)).toEqual([
      { error: "checksum mismatch", count: 2 },
      { error: "aborted", count: 1 },
      { error: "timed out", count: 1 },
    ]);
  });
});

describe("progressParts", () => {
  it("splits done, problems and in-flight shares", () => {
    const p = progressParts({ queued: 2, sent: 1, acknowledged: 1, completed: 4, failed: 1, timed_out: 1, cancel_requested: 0, cancelled: 0, skipped: 0 });
    expect(p.done).toBeCloseTo(0.4);
    expect(p.problems).toBeCloseTo(0.2);
    expect(p.inFlight).toBeCloseTo(0.2);
    expect(p.finished).toBeCloseTo(0.6);
  });
});
