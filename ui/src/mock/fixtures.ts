// A realistic demo world for the browser tests, the screenshots and the UI benchmark:
// 12 stores × 8 controllers, a firmware library with a stale file, a running deployment
// with failures, finished ones, and one observed from another operator.
import type { StoreSettings } from "../bindings/StoreSettings";
import type { ArtifactView } from "../bindings/ArtifactView";
import type { BrokerProfile } from "../bindings/BrokerProfile";
import type { Controller } from "../bindings/Controller";
import type { DeploymentSummary } from "../bindings/DeploymentSummary";
import type { MessageRow } from "../bindings/MessageRow";
import type { RolloutPolicy } from "../bindings/RolloutPolicy";
import type { TargetRow } from "../bindings/TargetRow";
import type { TargetStatus } from "../bindings/TargetStatus";
import { planWaves } from "../lib/policy";
import { emptyCounts } from "../lib/status";

/** A small deterministic PRNG so every run shows the same world. */
export function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CITIES = ["Lyon", "Porto", "Gent", "Bern", "Graz", "Turku", "Brno", "Cork", "Malmö", "Bilbao", "Lille", "Aarhus"];
const ROLES = ["pos", "pos", "pos", "scale", "shelf", "door", "hvac", "kiosk"];

export const FAILURE_ERRORS = [
  ["checksum mismatch: expected 9b2f0c1e, got 00000000", "download aborted after 3 retries"],
  ["flash write failed at block 412"],
  ["not enough free space: need 24 MiB, have 11 MiB"],
  ["HTTP 404 fetching firmware"],
];

export type World = {
  profiles: BrokerProfile[];
  controllers: Controller[];
  artifacts: ArtifactView[];
  deployments: Map<string, { summary: DeploymentSummary; targets: TargetRow[]; origin: string }>;
  messages: MessageRow[];
  /** Stores' time zones and windows (`fleet_stores`). */
  stores?: StoreSettings[];
};

export const DEFAULT_POLICY: RolloutPolicy = {
  canary: null,
  wave_size: null,
  advance: "auto",
  min_success_pct: 100,
  max_in_flight: null,
  max_in_flight_per_store: null,
  pause_on_failures: null,
};

export function makeControllers(stores: number, perStore: number, now: number, seed = 7): Controller[] {
  const r = rng(seed);
  const out: Controller[] = [];
  for (let s = 0; s < stores; s++) {
    const storeId = `store-${String(s + 1).padStart(3, "0")}`;
    for (let c = 0; c < perStore; c++) {
      const never = r() < 0.05;
      out.push({
        store_id: storeId,
        controller_id: `${ROLES[c % ROLES.length]}-${String(c + 1).padStart(2, "0")}`,
        store_name: `${CITIES[s % CITIES.length]}${s >= CITIES.length ? ` ${Math.floor(s / CITIES.length) + 1}` : ""}`,
        controller_name: null,
        firmware_version: never ? null : r() < 0.7 ? "2.4.1" : "2.3.9",
        last_seen: never ? null : now - Math.floor(r() * 3600_000),
        last_result: never ? null : r() < 0.9 ? "completed" : "failed",
        last_deployment_id: never ? null : "dep-20261120-0930",
        source: s < 8 ? "imported" : s < 11 ? "discovered" : "manual",
      });
    }
  }
  return out;
}

export function summaryOf(
  id: string,
  targets: TargetRow[],
  created: number,
  policy: RolloutPolicy,
  extra: Partial<DeploymentSummary> = {},
): DeploymentSummary {
  const counts = emptyCounts();
  for (const t of targets) counts[t.status] += 1;
  const sizes = planWaves(targets.length, policy);
  const waves = sizes.map((size, index) => {
    const members = targets.filter((t) => t.wave === index);
    const completed = members.filter((t) => t.status === "completed").length;
    const failed = members.filter((t) => t.status === "failed" || t.status === "timed_out").length;
    const started = members.some((t) => t.status !== "queued");
    const finished = members.every((t) => t.status === "completed" || t.status === "failed" || t.status === "timed_out" || t.status === "cancelled" || t.status === "skipped");
    return { index, size, started, completed, failed, finished };
  });
  const finished = waves.every((w) => w.finished);
  const current = waves.find((w) => w.started && !w.finished)?.index ?? null;
  return {
    deployment_id: id,
    firmware_version: "2.5.0",
    file_url: "http://192.168.1.20:8484/fw/3f9a1c77/store-ctl-2.5.0.bin",
    file_size: 23_456_789,
    checksum: "5d41402abc4b2a76b9719d911017c592",
    created_at: created,
    ack_timeout_ms: 30_000,
    completion_timeout_ms: 600_000,
    total: targets.length,
    counts,
    finished,
    state: finished ? "finished" : "running",
    paused_reason: null,
    policy,
    waves,
    current_wave: current,
    ...extra,
  };
}

/** Targets in deployment order with their wave, statuses drawn by `pick`. */
export function makeTargets(
  controllers: readonly { store_id: string; controller_id: string }[],
  policy: RolloutPolicy,
  start: number,
  pick: (i: number, r: () => number) => TargetStatus,
  seed = 11,
): TargetRow[] {
  const r = rng(seed);
  const sizes = planWaves(controllers.length, policy);
  const waveOf: number[] = [];
  sizes.forEach((size, w) => {
    for (let i = 0; i < size; i++) waveOf.push(w);
  });
  return controllers.map((c, i) => {
    const status = pick(i, r);
    return {
      store_id: c.store_id,
      controller_id: c.controller_id,
      status,
      attempt: 1,
      errors: status === "failed" ? FAILURE_ERRORS[Math.floor(r() * FAILURE_ERRORS.length)] : [],
      updated_at: start + Math.floor(r() * 240_000),
      wave: waveOf[i] ?? 0,
    };
  });
}

export function demoWorld(now: number): World {
  const controllers = makeControllers(12, 8, now);
  const artifacts: ArtifactView[] = [
    {
      id: 3,
      name: "store-ctl-2.5.0.bin",
      version: "2.5.0",
      // The demo's sample firmware, registered from its own folder as the core does.
      path: "/tmp/storefleet-demo/store-ctl-2.5.0.bin",
      size: 23_456_789,
      md5: "5d41402abc4b2a76b9719d911017c592",
      added_at: "2026-11-26T16:02:11Z",
      hashed_at: "2026-11-26T16:02:12Z",
      stale_since: null,
      stale: false,
      stale_reason: null,
      served_url: "http://192.168.1.20:8484/fw/3f9a1c77/store-ctl-2.5.0.bin",
    },
    {
      id: 2,
      name: "store-ctl-2.4.1.bin",
      version: "2.4.1",
      path: "/home/ops/firmware/store-ctl-2.4.1.bin",
      size: 22_981_004,
      md5: "7215ee9c7d9dc229d2921a40e899ec5f",
      added_at: "2026-11-12T09:15:40Z",
      hashed_at: "2026-11-12T09:15:41Z",
      stale_since: "2026-11-25T08:00:03Z",
      stale: true,
      stale_reason: "The file changed on disk after it was hashed (size 22,981,004 → 22,990,112 bytes).",
      served_url: "http://192.168.1.20:8484/fw/a01b2c3d/store-ctl-2.4.1.bin",
    },
    {
      id: 1,
      name: "scale-fw-1.8.0.img",
      version: "1.8.0",
      path: "/home/ops/firmware/scale-fw-1.8.0.img",
      size: 4_194_304,
      md5: "e4d909c290d0fb1ca068ffaddf22cbd0",
      added_at: "2026-10-02T12:00:00Z",
      hashed_at: "2026-10-02T12:00:01Z",
      stale_since: null,
      stale: false,
      stale_reason: null,
      served_url: "http://192.168.1.20:8484/fw/77aa0e12/scale-fw-1.8.0.img",
    },
  ];

  const deployments: World["deployments"] = new Map();
  // Running: canary 4, waves of 24; the canary and first wave done with a few failures.
  const policy: RolloutPolicy = { ...DEFAULT_POLICY, canary: 4, wave_size: 24, pause_on_failures: { kind: "percent", percent: 10, min_finished: 10 } };
  const started = now - 300_000;
  const running = makeTargets(controllers, policy, started, (i, r) => {
    if (i < 28) return r() < 0.85 ? "completed" : "failed";
    if (i < 52) return r() < 0.4 ? "acknowledged" : r() < 0.7 ? "sent" : r() < 0.85 ? "completed" : "timed_out";
    return "queued";
  });
  // As the core's inventory: a controller runs the version of its last completed target
  // (one never heard keeps the fixture's "never", as before).
  running.forEach((t, i) => {
    if (t.status === "completed" && controllers[i]!.last_seen !== null) Object.assign(controllers[i]!, { firmware_version: "2.5.0", last_result: "completed", last_deployment_id: "dep-20261127-0712" });
  });
  deployments.set("dep-20261127-0712", {
    summary: summaryOf("dep-20261127-0712", running, started, policy),
    targets: running,
    origin: "local",
  });

  const done = makeTargets(controllers, DEFAULT_POLICY, now - 7 * 86400_000, (_i, r) => (r() < 0.95 ? "completed" : "failed"), 23);
  deployments.set("dep-20261120-0930", {
    summary: summaryOf("dep-20261120-0930", done, now - 7 * 86400_000, DEFAULT_POLICY, {
      firmware_version: "2.4.1",
      file_url: "http://192.168.1.20:8484/fw/a01b2c3d/store-ctl-2.4.1.bin",
      checksum: "7215ee9c7d9dc229d2921a40e899ec5f",
    }),
    targets: done,
    origin: "local",
  });

  const scales = controllers.filter((c) => c.controller_id.startsWith("scale"));
  const observed = makeTargets(scales, DEFAULT_POLICY, now - 2 * 86400_000, () => "completed", 31);
  deployments.set("ext-7f3e2a", {
    summary: summaryOf("ext-7f3e2a", observed, now - 2 * 86400_000, DEFAULT_POLICY, {
      firmware_version: "1.8.0",
      file_url: "https://cdn.example.com/scale/scale-fw-1.8.0.img",
      checksum: "e4d909c290d0fb1ca068ffaddf22cbd0",
    }),
    targets: observed,
    origin: "observed",
  });

  const cancelled = makeTargets(controllers.slice(0, 16), DEFAULT_POLICY, now - 14 * 86400_000, (i) => (i < 6 ? "completed" : "cancelled"), 41);
  deployments.set("dep-20261113-1544", {
    summary: summaryOf("dep-20261113-1544", cancelled, now - 14 * 86400_000, DEFAULT_POLICY, {
      firmware_version: "2.4.0",
      state: "cancelled",
      finished: true,
    }),
    targets: cancelled,
    origin: "local",
  });

  return {
    profiles: [
      {
        id: "demo",
        name: "Demo (built-in broker)",
        host: "127.0.0.1",
        port: 41883,
        tls: false,
        ca_file: null,
        client_cert: null,
        client_key: null,
        username: null,
        topic_prefix: "",
        has_password: false,
        demo: true,
      },
      {
        id: "p-hq",
        name: "HQ broker",
        host: "mqtt.stores.example.com",
        port: 8883,
        tls: true,
        ca_file: "/etc/storefleet/ca.pem",
        client_cert: "/etc/storefleet/ops.crt",
        client_key: "/etc/storefleet/ops.key",
        username: "ops",
        topic_prefix: "",
        has_password: true,
        demo: false,
      },
    ],
    controllers,
    artifacts,
    deployments,
    messages: demoMessages(now),
  };
}

export function demoMessages(now: number): MessageRow[] {
  const out: MessageRow[] = [];
  const r = rng(5);
  for (let i = 0; i < 40; i++) {
    const store = `store-${String(1 + (i % 12)).padStart(3, "0")}`;
    const ctl = `${ROLES[i % 8]}-${String((i % 8) + 1).padStart(2, "0")}`;
    const out_ = i % 4 === 0;
    const rejected = i % 13 === 5;
    const observed = i % 17 === 3;
    out.push({
      id: 1000 + i,
      direction: out_ ? "out" : "in",
      topic: `stores/${store}/controllers/${ctl}/${out_ ? "commands" : "events"}`,
      body: JSON.stringify({ event_type: out_ ? "update_firmware" : "update_firmware_ack", deployment_id: "dep-20261127-0712" }),
      at: now - (40 - i) * 4000 - Math.floor(r() * 1000),
      event_type: out_ ? "update_firmware" : rejected ? null : "update_firmware_ack",
      deployment_id: rejected ? null : observed ? "ext-7f3e2a" : "dep-20261127-0712",
      store_id: store,
      controller_id: ctl,
      outcome: out_ ? "published" : rejected ? "not_json" : observed ? "observed" : i % 9 === 0 ? "duplicate" : "applied",
      reason: rejected ? "body is not JSON: expected value at line 1 column 1" : i % 9 === 0 && !out_ ? "duplicate of a reply already applied" : null,
    });
  }
  return out.reverse();
}

/** The demo world with 10,000 controllers (500 stores of 20), for the views that must scale. */
export function largeWorld(now: number): World {
  return { ...demoWorld(now), controllers: makeControllers(500, 20, now) };
}

export function emptyWorld(): World {
  return { profiles: [], controllers: [], artifacts: [], deployments: new Map(), messages: [] };
}

/**
 * `n` messages (ids 1..n, one a second up to now) for the searches that must page: every
 * store and deployment of the demo world, every event type, 1 in 25 rejected.
 */
export function manyMessages(n: number, now: number): MessageRow[] {
  const deployments = ["dep-20261127-0712", "dep-20261120-0930", "ext-7f3e2a", "dep-20261113-1544"];
  const events = ["update_firmware", "update_firmware_ack", "update_firmware_completed", "update_firmware_failed"];
  const out: MessageRow[] = [];
  for (let id = n; id >= 1; id--) {
    const store = `store-${String(1 + (id % 12)).padStart(3, "0")}`;
    const ctl = `${ROLES[id % 8]}-${String((id % 8) + 1).padStart(2, "0")}`;
    const rejected = id % 25 === 0;
    const event = events[id % 4];
    const command = event === "update_firmware";
    const deployment = rejected ? null : deployments[Math.floor(id / 7) % 4];
    out.push({
      id,
      direction: command ? "out" : "in",
      topic: `stores/${store}/controllers/${ctl}/${command ? "commands" : "events"}`,
      body: JSON.stringify({ event_type: event, deployment_id: deployment, n: id }),
      at: now - (n - id) * 1000,
      event_type: rejected ? null : event,
      deployment_id: deployment,
      store_id: store,
      controller_id: ctl,
      outcome: rejected ? "not_json" : command ? "published" : id % 10 === 3 ? "duplicate" : "applied",
      reason: rejected ? "body is not JSON: expected value at line 1 column 1" : null,
    });
  }
  return out;
}
