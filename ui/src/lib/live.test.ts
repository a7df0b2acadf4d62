import { describe, expect, it } from "vitest";
import type { DeploymentDetail } from "../bindings/DeploymentDetail";
import type { TargetRow } from "../bindings/TargetRow";
import type { TargetStatus } from "../bindings/TargetStatus";
import type { Transition } from "../bindings/Transition";
import { DeploymentLive } from "./live";
import { emptyCounts } from "./status";
import { SERIES } from "./timeline";

// A 12-target deployment, as the real window saw it when the timeline said "Acks 24".
const ID = "dep-1";
const CTL = Array.from({ length: 12 }, (_, i) => `pos-${String(i + 1).padStart(2, "0")}`);

const tr = (ctl: string, from: TargetStatus, to: TargetStatus, at: number, attempt = 1): Transition => ({
  deployment_id: ID,
  store_id: "store-1",
  controller_id: ctl,
  attempt,
  from,
  to,
  at,
  errors: to === "failed" ? ["flash write failed"] : [],
  wave: 0,
});

const row = (ctl: string, status: TargetStatus, at: number, attempt = 1): TargetRow => ({
  store_id: "store-1",
  controller_id: ctl,
  status,
  attempt,
  errors: status === "failed" ? ["flash write failed"] : [],
  updated_at: at,
  wave: 0,
});

/** The detail deployment_detail answers: its rows are each target's latest transition. */
function detail(rows: TargetRow[]): DeploymentDetail {
  const counts = emptyCounts();
  for (const r of rows) counts[r.status] += 1;
  return {
    summary: {
      deployment_id: ID,
      firmware_version: "2.5.0",
      file_url: "http://127.0.0.1:8484/fw/x/fw.bin",
      file_size: 1,
      checksum: "5d41402abc4b2a76b9719d911017c592",
      created_at: 0,
      ack_timeout_ms: 30_000,
      completion_timeout_ms: 600_000,
      total: rows.length,
      counts,
      finished: false,
      state: "running",
      paused_reason: null,
      policy: {
        canary: null,
        wave_size: null,
        advance: "auto",
        min_success_pct: 100,
        max_in_flight: null,
        max_in_flight_per_store: null,
        pause_on_failures: null,
      },
      waves: [],
      current_wave: null,
    },
    targets: rows,
  };
}

/** The chart's totals: every bucket summed. */
function totals(live: DeploymentLive) {
  const { buckets } = live.timeline.buckets(1, 60_000);
  return Object.fromEntries(SERIES.map((s) => [s, buckets.reduce((n, b) => n + b[s], 0)]));
}

const acks = CTL.map((c, i) => tr(c, "sent", "acknowledged", 1000 + i * 10));

describe("DeploymentLive: the snapshot and the live feed", () => {
  it("counts acks once when a live batch repeats what the snapshot has", () => {
    const live = new DeploymentLive(0);
    live.snapshot(detail(acks.map((t) => row(t.controller_id, "acknowledged", t.at))));
    // The feed batched these before the snapshot was read, and delivered them after.
    expect(live.batch(acks)).toBe(true);
    expect(totals(live)).toEqual({ acks: 12, completions: 0, failures: 0 });
    expect(live.store.counts.acknowledged).toBe(12);
  });

  it("interleaves batches before, overlapping and after the snapshot, counting each transition once", () => {
    const live = new DeploymentLive(0);
    // Before the snapshot: acks of pos-01..06 (the snapshot has them), and pos-07's
    // completion, which happened after the snapshot was read.
    expect(live.batch(acks.slice(0, 6))).toBe(false);
    expect(live.batch([acks[6], tr(CTL[6], "acknowledged", "completed", 5000)])).toBe(false);
    // The snapshot: pos-01..07 acknowledged, pos-08 already completed, the rest sent.
    live.snapshot(
      detail([
        ...acks.slice(0, 7).map((t) => row(t.controller_id, "acknowledged", t.at)),
        row(CTL[7], "completed", 4000),
        ...CTL.slice(8).map((c) => row(c, "sent", 500)),
      ]),
    );
    expect(totals(live)).toEqual({ acks: 7, completions: 2, failures: 0 });
    // After it: a batch overlapping the snapshot (pos-03..08's latest, and pos-08's ack,
    // which the snapshot's "completed" row does not count) and new replies.
    live.batch([...acks.slice(2, 8), tr(CTL[7], "acknowledged", "completed", 4000)]);
    live.batch([...acks.slice(8), tr(CTL[0], "acknowledged", "completed", 6000), tr(CTL[1], "acknowledged", "failed", 6100)]);
    // QoS 1 redelivery, or a feed that sends a batch twice, changes nothing.
    live.batch([tr(CTL[0], "acknowledged", "completed", 6000), acks[11]]);
    expect(totals(live)).toEqual({ acks: 12, completions: 3, failures: 1 });
    expect(live.store.counts).toMatchObject({ acknowledged: 8, completed: 3, failed: 1, sent: 0 });
  });

  it("counts a retry's new attempt as a new transition", () => {
    const live = new DeploymentLive(0);
    live.snapshot(detail([row(CTL[0], "failed", 2000)]));
    live.batch([tr(CTL[0], "failed", "queued", 3000, 2), tr(CTL[0], "queued", "sent", 3100, 2)]);
    live.batch([tr(CTL[0], "sent", "acknowledged", 3200, 2), tr(CTL[0], "acknowledged", "failed", 3300, 2)]);
    expect(totals(live)).toEqual({ acks: 1, completions: 0, failures: 2 });
    expect(live.store.get("store-1", CTL[0])).toMatchObject({ status: "failed", attempt: 2 });
  });
});
