// The rollout policy's plan, as the core computes it (engine::rollout::plan_waves), for the
// wizard's preview before the review asks the core.
import type { FailureThreshold } from "../bindings/FailureThreshold";
import type { RolloutPolicy } from "../bindings/RolloutPolicy";

/** Wave sizes for `targets` targets, canary first; empty for no targets. */
export function planWaves(targets: number, policy: RolloutPolicy | null): number[] {
  const waves: number[] = [];
  let rest = targets;
  if (policy?.canary && policy.canary > 0) {
    const size = Math.min(policy.canary, rest);
    if (size > 0) waves.push(size);
    rest -= size;
  }
  const w = policy?.wave_size;
  if (w && w > 0) {
    while (rest > 0) {
      const size = Math.min(w, rest);
      waves.push(size);
      rest -= size;
    }
  } else if (rest > 0) {
    waves.push(rest);
  }
  return waves;
}

/** The default a percentage threshold waits for before it judges. */
export const DEFAULT_MIN_FINISHED = 10;

/**
 * "5" pauses after 5 failures; "10%" after 10 % of finished targets failed (once
 * DEFAULT_MIN_FINISHED finished); "10% after 50" sets that minimum. Empty: never pause.
 */
export function parseFailureThreshold(text: string): { value: FailureThreshold | null } | { error: string } {
  const t = text.trim();
  if (t === "") return { value: null };
  const count = /^(\d+)$/.exec(t);
  if (count) {
    const n = Number(count[1]);
    if (n < 1) return { error: "Pause after at least one failure." };
    return { value: { kind: "count", count: n } };
  }
  const pct = /^(\d+)\s*%(?:\s*after\s*(\d+))?$/i.exec(t);
  if (pct) {
    const percent = Number(pct[1]);
    if (percent < 1 || percent > 100) return { error: "A failure percentage is 1 to 100." };
    const min = pct[2] === undefined ? DEFAULT_MIN_FINISHED : Number(pct[2]);
    return { value: { kind: "percent", percent, min_finished: min } };
  }
  return { error: `"${t}" is not a threshold; use a count (5) or a percentage (10%, or 10% after 50).` };
}

export function formatFailureThreshold(t: FailureThreshold | null): string {
  if (t === null) return "never";
  if (t.kind === "count") return `after ${t.count} failure${t.count === 1 ? "" : "s"}`;
  return `at ${t.percent}% failed (once ${t.min_finished} finished)`;
}
