import { describe, expect, it } from "vitest";
import { brokerLabel, formatAgo, formatBytes, formatCountdown, formatSpan, plural, secondsUntil } from "./format";
import { formatDuration, parseDuration } from "./duration";

describe("formatBytes", () => {
  it("keeps small sizes exact and scales the rest", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(23_456_789)).toBe("22.4 MiB");
  });
});

describe("countdown", () => {
  const now = 1_000_000;
  it("rounds up to whole seconds and never goes negative", () => {
    expect(secondsUntil(now + 4001, now)).toBe(5);
    expect(secondsUntil(now - 10, now)).toBe(0);
  });
  it("reads naturally", () => {
    expect(formatCountdown(now + 4000, now)).toBe("in 4 s");
    expect(formatCountdown(now + 65_000, now)).toBe("in 1 min 05 s");
    expect(formatCountdown(now - 1, now)).toBe("now");
  });
});

describe("formatAgo and formatSpan", () => {
  it("describes the past", () => {
    expect(formatAgo(null, 0)).toBe("never");
    expect(formatAgo(1000, 3000)).toBe("just now");
    expect(formatAgo(0, 42_000)).toBe("42 s ago");
    expect(formatAgo(0, 5 * 60_000)).toBe("5 min ago");
    expect(formatAgo(0, 3 * 3600_000)).toBe("3 h ago");
  });
  it("formats spans", () => {
    expect(formatSpan(250)).toBe("250 ms");
    expect(formatSpan(30_000)).toBe("30s");
    expect(formatSpan(600_000)).toBe("10m");
    expect(formatSpan(3_720_000)).toBe("1h 2m");
  });
  it("pluralises", () => {
    expect(plural(1, "command")).toBe("1 command");
    expect(plural(1200, "command")).toBe("1,200 commands");
  });
});

describe("parseDuration", () => {
  it("reads seconds, units and combinations", () => {
    expect(parseDuration("90")).toEqual({ secs: 90 });
    expect(parseDuration("30s")).toEqual({ secs: 30 });
    expect(parseDuration("5m")).toEqual({ secs: 300 });
    expect(parseDuration(" 1h30m ")).toEqual({ secs: 5400 });
    expect(parseDuration("2h 15m 10s")).toEqual({ secs: 8110 });
  });
  it("refuses nonsense with a message", () => {
    for (const bad of ["", "0", "0s", "abc", "5x", "1m1m", "m5", "5m junk"]) {
      expect(parseDuration(bad)).toHaveProperty("error");
    }
  });
  it("round-trips through formatDuration", () => {
    for (const secs of [1, 59, 60, 90, 3600, 5400, 86399]) {
      expect(parseDuration(formatDuration(secs))).toEqual({ secs });
    }
  });
});

describe("brokerLabel", () => {
  it("names the broker a deployment belongs to", () => {
    expect(brokerLabel("mqtt://10.0.0.5:1883", "")).toBe("for mqtt://10.0.0.5:1883");
    expect(brokerLabel("mqtt://10.0.0.5:1883", "site-a")).toBe("for mqtt://10.0.0.5:1883, topic prefix site-a");
    expect(brokerLabel("demo", null)).toBe("for the built-in demo broker");
    expect(brokerLabel(null, null)).toMatch(/^broker unknown/);
  });
});
