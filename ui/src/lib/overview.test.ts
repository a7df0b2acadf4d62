import { describe, expect, it } from "vitest";
import type { Controller } from "../bindings/Controller";
import type { DeploymentDetail } from "../bindings/DeploymentDetail";
import type { DeploymentRow } from "../bindings/DeploymentRow";
import type { TargetRow } from "../bindings/TargetRow";
import { DEFAULT_POLICY, makeControllers, makeTargets, summaryOf } from "../mock/fixtures";
import {
  compareVersions,
  demoRequest,
  demoWaves,
  doneCount,
  firmwareChart,
  isSilent,
  lastFailures,
  sampleArtifact,
  SILENT_AFTER_MS,
  troubledStores,
  unfinished,
  UNKNOWN_VERSION,
  withFailures,
  withSummary,
} from "./overview";
import { planWaves } from "./policy";
import { emptyCounts } from "./status";

const NOW = Date.UTC(2026, 10, 27, 9, 30);

const c = (store: string, ctl: string, over: Partial<Controller> = {}): Controller => ({
  store_id: store,
  controller_id: ctl,
  store_name: null,
  controller_name: null,
  firmware_version: "2.4.1",
  last_seen: NOW - 60_000,
  last_result: "completed",
  last_deployment_id: "d1",
  source: "imported",
  ...over,
});

const fleet = [
  c("store-10", "pos-1", { store_name: "Lyon" }),
  c("store-10", "pos-2", { store_name: "Lyon", firmware_version: "2.10.0" }),
  c("store-2", "pos-1", { firmware_version: null, last_seen: null, last_result: null }),
  c("store-2", "pos-2", { firmware_version: "2.4.1", last_result: "failed" }),
  c("store-2", "pos-3", { last_seen: NOW - SILENT_AFTER_MS - 1 }),
];

describe("firmware versions", () => {
  it("sorts newest first, numerically, unknown last", () => {
    expect(["2.4.1", UNKNOWN_VERSION, "2.10.0", "2.9.9"].sort(compareVersions)).toEqual(["2.10.0", "2.9.9", "2.4.1", UNKNOWN_VERSION]);
  });
  it("counts controllers by version overall and per store, stores in natural order", () => {
    const chart = firmwareChart(fleet);
    expect(chart.total).toBe(5);
    expect(chart.versions).toEqual([
      { version: "2.10.0", count: 1 },
      { version: "2.4.1", count: 3 },
      { version: UNKNOWN_VERSION, count: 1 },
    ]);
    expect(chart.stores.map((s) => [s.store_id, s.store_name, s.total])).toEqual([
      ["store-2", null, 3],
      ["store-10", "Lyon", 2],
    ]);
    expect(chart.stores[0].versions).toEqual([
      { version: "2.4.1", count: 2 },
      { version: UNKNOWN_VERSION, count: 1 },
    ]);
  });
  it("adds up for the mock fleet: every controller counted once", () => {
    const chart = firmwareChart(makeControllers(12, 8, NOW));
    expect(chart.versions.reduce((n, v) => n + v.count, 0)).toBe(96);
    expect(chart.stores).toHaveLength(12);
    for (const s of chart.stores) expect(s.versions.reduce((n, v) => n + v.count, 0)).toBe(s.total);
  });
  it("is empty for an empty fleet", () => {
    expect(firmwareChart([])).toEqual({ total: 0, versions: [], stores: [] });
  });
});

describe("troubled stores", () => {
  it("calls silent the never seen, the long unheard and the timed out", () => {
    expect(isSilent(c("s", "a", { last_seen: null }), NOW)).toBe(true);
    expect(isSilent(c("s", "a", { last_seen: NOW - SILENT_AFTER_MS - 1 }), NOW)).toBe(true);
    expect(isSilent(c("s", "a", { last_result: "timed_out" }), NOW)).toBe(true);
    expect(isSilent(c("s", "a"), NOW)).toBe(false);
    expect(isSilent(c("s", "a", { last_result: "failed" }), NOW)).toBe(false);
  });
  it("lists stores with failed or silent controllers, the most troubled first", () => {
    expect(troubledStores(fleet, NOW)).toEqual([{ store_id: "store-2", store_name: null, total: 3, failed: 1, silent: 2 }]);
    const more = [...fleet, c("store-7", "pos-1", { last_result: "failed" })];
    expect(troubledStores(more, NOW).map((s) => s.store_id)).toEqual(["store-2", "store-7"]);
    expect(troubledStores([c("a", "b")], NOW)).toEqual([]);
  });
});

const row = (id: string, over: Partial<DeploymentRow> = {}): DeploymentRow => ({
  deployment_id: id,
  firmware_version: "2.5.0",
  file_url: "http://x/fw.bin",
  file_size: 1,
  checksum: "00",
  ack_timeout_ms: 30_000,
  completion_timeout_ms: 600_000,
  created_at: NOW,
  target_count: 10,
  origin: "local",
  finished_at: null,
  counts: { ...emptyCounts(), queued: 10 },
  state: "running",
  paused_reason: null,
  policy: DEFAULT_POLICY,
  broker: null,
  topic_prefix: null,
  ...over,
});

describe("deployments under way", () => {
  const rows = [
    row("old", { created_at: NOW - 10, state: "paused", paused_reason: "3 failures" }),
    row("done", { state: "finished", finished_at: NOW }),
    row("gone", { state: "cancelled" }),
    row("new", { created_at: NOW }),
  ];
  it("keeps the running and paused ones, newest first", () => {
    const live = unfinished(rows);
    expect(live.map((r) => [r.deployment_id, r.state])).toEqual([
      ["new", "running"],
      ["old", "paused"],
    ]);
    expect(live[1].paused_reason).toBe("3 failures");
  });
  it("takes a live summary's counts and state", () => {
    const [live] = unfinished(rows);
    const targets: TargetRow[] = Array.from({ length: 10 }, (_, i) => ({
      store_id: "s",
      controller_id: `c${i}`,
      status: i < 4 ? "completed" : i < 5 ? "failed" : "sent",
      attempt: 1,
      errors: [],
      updated_at: NOW,
      wave: 0,
    }));
    const next = withSummary(live, summaryOf("new", targets, NOW, DEFAULT_POLICY, { state: "paused", paused_reason: "why" }));
    expect(next.counts.completed).toBe(4);
    expect(doneCount(next.counts)).toBe(5);
    expect(next.state).toBe("paused");
    expect(next.paused_reason).toBe("why");
    expect(live.counts.completed).toBe(0);
  });
});

describe("last failures", () => {
  const small = makeControllers(2, 4, NOW);
  const detail = (id: string, at: number, failedAt: number[]): DeploymentDetail => {
    const targets = makeTargets(small, DEFAULT_POLICY, at, (i) => (failedAt.includes(i) ? "failed" : "completed")).map((t, i) => ({
      ...t,
      updated_at: at + i,
    }));
    return { summary: summaryOf(id, targets, at, DEFAULT_POLICY), targets };
  };
  it("picks the newest deployments that had failures", () => {
    const rows = [
      row("a", { created_at: 1, counts: { ...emptyCounts(), failed: 1 } }),
      row("b", { created_at: 3, counts: { ...emptyCounts(), completed: 4 } }),
      row("c", { created_at: 2, counts: { ...emptyCounts(), timed_out: 2 } }),
      row("d", { created_at: 4, counts: { ...emptyCounts(), failed: 1 } }),
    ];
    expect(withFailures(rows, 2)).toEqual(["d", "c"]);
  });
  it("lists failed targets with their errors, newest first, at most `limit`", () => {
    const out = lastFailures([detail("old", 1000, [0, 1]), detail("new", 5000, [2])], 2);
    expect(out.map((f) => [f.deployment_id, f.at])).toEqual([
      ["new", 5002],
      ["old", 1001],
    ]);
    expect(out[0].errors.length).toBeGreaterThan(0);
    expect(out[0].status).toBe("failed");
  });
});

describe("the demo deployment", () => {
  it("plans a canary then three waves", () => {
    expect(demoWaves(96)).toEqual({ canary: 8, waveSize: 30 });
    expect(demoWaves(24)).toEqual({ canary: 2, waveSize: 8 });
    expect(demoWaves(1)).toEqual({ canary: 1, waveSize: 1 });
  });
  it("sends the sample firmware to every controller, store by store, as the wizard would", () => {
    const req = demoRequest(3, fleet);
    expect(req.artifact_id).toBe(3);
    expect(req.serving).toEqual({ kind: "built_in" });
    expect(req.targets.map((t) => `${t.store_id}/${t.controller_id}`)).toEqual([
      "store-2/pos-1",
      "store-2/pos-2",
      "store-2/pos-3",
      "store-10/pos-1",
      "store-10/pos-2",
    ]);
    expect(req.ack_timeout_secs).toBe(30);
    expect(req.completion_timeout_secs).toBe(600);
    expect(req.policy).toMatchObject({ canary: 1, wave_size: 2, advance: "auto", min_success_pct: 80 });
    expect(planWaves(req.targets.length, req.policy)).toEqual([1, 2, 2]);
  });
  it("finds the sample firmware by the demo's path", () => {
    const a = { id: 7, path: "/tmp/demo/fw.bin" } as Parameters<typeof sampleArtifact>[0][number];
    expect(sampleArtifact([a], "/tmp/demo/fw.bin")?.id).toBe(7);
    expect(sampleArtifact([a], "/elsewhere/fw.bin")).toBeNull();
  });
});
