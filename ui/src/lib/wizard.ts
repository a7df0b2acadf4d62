// The new-deployment wizard's steps, what each one needs before the next, and the request
// it finally sends. Plain data so the rules are tested without a window.
import type { ScheduleChoice } from "../bindings/ScheduleChoice";
import type { Advance } from "../bindings/Advance";
import type { NewDeployment } from "../bindings/NewDeployment";
import type { RolloutPolicy } from "../bindings/RolloutPolicy";
import { parseDuration } from "./duration";
import { parseFailureThreshold } from "./policy";

export const STEPS = ["firmware", "targets", "options", "policy", "review"] as const;
export type Step = (typeof STEPS)[number];

export const STEP_LABEL: Record<Step, string> = {
  firmware: "Firmware",
  targets: "Targets",
  options: "Options",
  policy: "Policy",
  review: "Review",
};

export type Draft = {
  artifactId: number | null;
  /** `store/controller` keys, in the order they were picked. */
  targets: string[];
  ackTimeout: string;
  completionTimeout: string;
  serving: "built_in" | "external";
  externalUrl: string;
  canary: string;
  waveSize: string;
  advance: Advance;
  minSuccess: string;
  maxInFlight: string;
  maxInFlightPerStore: string;
  pauseOnFailures: string;
  /** Send a target only inside its store's maintenance window. */
  inWindows: boolean;
  /** With windows: stores without one are sent at once (else the review refuses). */
  sendUnwindowed: boolean;
  /** `datetime-local` values (this computer's clock); empty: no bound. */
  notBefore: string;
  notAfter: string;
  /** Leave out controllers the fleet says already run the firmware's version. */
  skipCurrent: boolean;
};

/** Set by "Deploy…" in the library: the wizard starts with this firmware picked. */
export const preset: { artifactId: number | null } = { artifactId: null };

/** A fresh draft, taking (and clearing) the preset firmware. */
export function startDraft(): Draft {
  const d = emptyDraft();
  d.artifactId = preset.artifactId;
  preset.artifactId = null;
  return d;
}

export function emptyDraft(): Draft {
  return {
    artifactId: null,
    targets: [],
    ackTimeout: "30s",
    completionTimeout: "10m",
    serving: "built_in",
    externalUrl: "",
    canary: "",
    waveSize: "",
    advance: "auto",
    minSuccess: "100",
    maxInFlight: "",
    maxInFlightPerStore: "",
    pauseOnFailures: "",
    inWindows: false,
    sendUnwindowed: false,
    notBefore: "",
    notAfter: "",
    skipCurrent: false,
  };
}

/** Field name -> message, for the fields of one step that block going on. */
export type Problems = Partial<Record<keyof Draft, string>>;

/** An optional whole number of at least `min`: empty is null. */
export function parseOptionalCount(text: string, min = 1): { value: number | null } | { error: string } {
  const t = text.trim();
  if (t === "") return { value: null };
  if (!/^\d+$/.test(t)) return { error: "Enter a whole number, or leave it empty." };
  const n = Number(t);
  if (n < min) return { error: `Must be at least ${min}.` };
  return { value: n };
}

function isHttpUrl(text: string): boolean {
  try {
    const u = new URL(text.trim());
    return u.protocol === "http:" || u.protocol === "https:";
  } catch {
    return false;
  }
}

export function validateStep(step: Step, d: Draft): Problems {
  const p: Problems = {};
  switch (step) {
    case "firmware":
      if (d.artifactId === null) p.artifactId = "Pick the firmware to roll out.";
      break;
    case "targets":
      if (d.targets.length === 0) p.targets = "Select at least one controller.";
      break;
    case "options": {
      const ack = parseDuration(d.ackTimeout);
      if ("error" in ack) p.ackTimeout = ack.error;
      const done = parseDuration(d.completionTimeout);
      if ("error" in done) p.completionTimeout = done.error;
      if ("secs" in ack && "secs" in done && done.secs < ack.secs) {
        p.completionTimeout = "The completion timeout must not be shorter than the ack timeout.";
      }
      if (d.serving === "external" && !isHttpUrl(d.externalUrl)) {
        p.externalUrl = "Enter the http:// or https:// address controllers download from.";
      }
      break;
    }
    case "policy": {
      for (const key of ["canary", "waveSize", "maxInFlight", "maxInFlightPerStore"] as const) {
        const r = parseOptionalCount(d[key]);
        if ("error" in r) p[key] = r.error;
      }
      const min = d.minSuccess.trim();
      if (!/^\d+$/.test(min) || Number(min) > 100) p.minSuccess = "A percentage from 0 to 100.";
      const t = parseFailureThreshold(d.pauseOnFailures);
      if ("error" in t) p.pauseOnFailures = t.error;
      const from = parseInstant(d.notBefore);
      const to = parseInstant(d.notAfter);
      if (from === undefined) p.notBefore = "Pick a date and time.";
      if (to === undefined) p.notAfter = "Pick a date and time.";
      if (from != null && to != null && to <= from) p.notAfter = "Not after must be later than not before.";
      break;
    }
    case "review":
      break;
  }
  return p;
}

/** The policy of a valid draft; null when it asks for nothing beyond the defaults. */
export function policyOf(d: Draft): RolloutPolicy | null {
  const count = (text: string) => {
    const r = parseOptionalCount(text);
    return "value" in r ? r.value : null;
  };
  const t = parseFailureThreshold(d.pauseOnFailures);
  const policy: RolloutPolicy = {
    canary: count(d.canary),
    wave_size: count(d.waveSize),
    advance: d.advance,
    min_success_pct: Number(d.minSuccess.trim() || "100"),
    max_in_flight: count(d.maxInFlight),
    max_in_flight_per_store: count(d.maxInFlightPerStore),
    pause_on_failures: "value" in t ? t.value : null,
  };
  const plain =
    policy.canary === null &&
    policy.wave_size === null &&
    policy.advance === "auto" &&
    policy.min_success_pct === 100 &&
    policy.max_in_flight === null &&
    policy.max_in_flight_per_store === null &&
    policy.pause_on_failures === null;
  return plain ? null : policy;
}

/** A `datetime-local` value as unix ms: null when empty, undefined when unreadable. */
export function parseInstant(text: string): number | null | undefined {
  if (!text.trim()) return null;
  const ms = new Date(text).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}

/** The time options of a valid draft; undefined when it asks for none. */
export function scheduleOf(d: Draft): ScheduleChoice | undefined {
  const notBefore = parseInstant(d.notBefore) ?? null;
  const notAfter = parseInstant(d.notAfter) ?? null;
  if (!d.inWindows && notBefore === null && notAfter === null) return undefined;
  return { in_windows: d.inWindows, send_unwindowed: d.inWindows && d.sendUnwindowed, not_before: notBefore, not_after: notAfter };
}

/** The request of a draft whose every step validates. */
export function toRequest(d: Draft): NewDeployment {
  const secs = (text: string) => {
    const r = parseDuration(text);
    return "secs" in r ? r.secs : 0;
  };
  return {
    artifact_id: d.artifactId ?? 0,
    serving: d.serving === "external" ? { kind: "external", url: d.externalUrl.trim() } : { kind: "built_in" },
    targets: d.targets.map((k) => {
      const i = k.indexOf("/");
      return { store_id: k.slice(0, i), controller_id: k.slice(i + 1) };
    }),
    ack_timeout_secs: secs(d.ackTimeout),
    completion_timeout_secs: secs(d.completionTimeout),
    policy: policyOf(d),
    schedule: scheduleOf(d),
    skip_current: d.skipCurrent,
  };
}

/** The first step (up to `upTo`) that does not validate, or null. */
export function firstInvalid(d: Draft, upTo: Step): Step | null {
  for (const s of STEPS) {
    if (Object.keys(validateStep(s, d)).length > 0) return s;
    if (s === upTo) break;
  }
  return null;
}
