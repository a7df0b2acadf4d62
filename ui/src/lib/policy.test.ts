import { describe, expect, it } from "vitest";
import type { RolloutPolicy } from "../bindings/RolloutPolicy";
import { formatFailureThreshold, parseFailureThreshold, planWaves } from "./policy";

const base: RolloutPolicy = {
  canary: null,
  wave_size: null,
  advance: "auto",
  min_success_pct: 100,
  max_in_flight: null,
  max_in_flight_per_store: null,
  pause_on_failures: null,
};

describe("planWaves (mirrors engine::rollout::plan_waves)", () => {
  it("puts everything in one wave by default", () => {
    expect(planWaves(96, null)).toEqual([96]);
    expect(planWaves(0, null)).toEqual([]);
  });
  it("splits canary then waves, the last one short", () => {
    expect(planWaves(96, { ...base, canary: 4, wave_size: 24 })).toEqual([4, 24, 24, 24, 20]);
  });
  it("caps the canary at the target count", () => {
    expect(planWaves(3, { ...base, canary: 5, wave_size: 2 })).toEqual([3]);
  });
  it("puts the rest after a canary in one wave without a wave size", () => {
    expect(planWaves(10, { ...base, canary: 2 })).toEqual([2, 8]);
  });
});

describe("parseFailureThreshold", () => {
  it("reads counts and percentages", () => {
    expect(parseFailureThreshold("")).toEqual({ value: null });
    expect(parseFailureThreshold("5")).toEqual({ value: { kind: "count", count: 5 } });
    expect(parseFailureThreshold("10%")).toEqual({ value: { kind: "percent", percent: 10, min_finished: 10 } });
    expect(parseFailureThreshold("25 % after 40")).toEqual({ value: { kind: "percent", percent: 25, min_finished: 40 } });
  });
  it("refuses what the core would refuse", () => {
    for (const bad of ["0", "0%", "101%", "five", "-3"]) expect(parseFailureThreshold(bad)).toHaveProperty("error");
  });
  it("describes thresholds", () => {
    expect(formatFailureThreshold(null)).toBe("never");
    expect(formatFailureThreshold({ kind: "count", count: 1 })).toBe("after 1 failure");
  });
});
