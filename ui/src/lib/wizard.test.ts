import { describe, expect, it } from "vitest";
import { emptyDraft, firstInvalid, parseOptionalCount, policyOf, preset, startDraft, toRequest, validateStep } from "./wizard";

describe("wizard validation", () => {
  it("needs firmware, then targets", () => {
    const d = emptyDraft();
    expect(validateStep("firmware", d)).toHaveProperty("artifactId");
    expect(firstInvalid(d, "review")).toBe("firmware");
    d.artifactId = 3;
    expect(firstInvalid(d, "review")).toBe("targets");
    d.targets = ["s1/a"];
    expect(firstInvalid(d, "review")).toBeNull();
  });

  it("checks timeouts and their order", () => {
    const d = { ...emptyDraft(), ackTimeout: "soon" };
    expect(validateStep("options", d)).toHaveProperty("ackTimeout");
    const e = { ...emptyDraft(), ackTimeout: "10m", completionTimeout: "5m" };
    expect(validateStep("options", e).completionTimeout).toMatch(/shorter/);
  });

  it("needs an http(s) URL for external serving", () => {
    const d = { ...emptyDraft(), serving: "external" as const, externalUrl: "ftp://x/fw.bin" };
    expect(validateStep("options", d)).toHaveProperty("externalUrl");
    d.externalUrl = "https://cdn.example.com/fw.bin";
    expect(validateStep("options", d)).toEqual({});
  });

  it("checks the policy fields", () => {
    const d = { ...emptyDraft(), canary: "0", waveSize: "x", minSuccess: "101", pauseOnFailures: "lots" };
    expect(Object.keys(validateStep("policy", d)).sort()).toEqual(["canary", "minSuccess", "pauseOnFailures", "waveSize"]);
    expect(parseOptionalCount("")).toEqual({ value: null });
    expect(parseOptionalCount("12")).toEqual({ value: 12 });
  });
});

describe("the request", () => {
  it("builds NewDeployment with the targets in picked order", () => {
    const d = { ...emptyDraft(), artifactId: 3, targets: ["s2/b", "s1/a"], ackTimeout: "45s", completionTimeout: "15m" };
    expect(toRequest(d)).toEqual({
      artifact_id: 3,
      serving: { kind: "built_in" },
      targets: [
        { store_id: "s2", controller_id: "b" },
        { store_id: "s1", controller_id: "a" },
      ],
      ack_timeout_secs: 45,
      completion_timeout_secs: 900,
      policy: null,
      skip_current: false,
    });
    expect(toRequest({ ...d, skipCurrent: true }).skip_current).toBe(true);
  });

  it("sends a policy only when it differs from the defaults", () => {
    expect(policyOf(emptyDraft())).toBeNull();
    expect(policyOf({ ...emptyDraft(), canary: "4", waveSize: "24", pauseOnFailures: "10%", advance: "manual" })).toEqual({
      canary: 4,
      wave_size: 24,
      advance: "manual",
      min_success_pct: 100,
      max_in_flight: null,
      max_in_flight_per_store: null,
      pause_on_failures: { kind: "percent", percent: 10, min_finished: 10 },
    });
  });

  it("sends the external URL trimmed", () => {
    const d = { ...emptyDraft(), artifactId: 1, targets: ["s/c"], serving: "external" as const, externalUrl: " https://x/fw.bin " };
    expect(toRequest(d).serving).toEqual({ kind: "external", url: "https://x/fw.bin" });
  });
});

describe("preset firmware", () => {
  it("is taken once by the next draft", () => {
    preset.artifactId = 7;
    expect(startDraft().artifactId).toBe(7);
    expect(startDraft().artifactId).toBeNull();
  });
});
