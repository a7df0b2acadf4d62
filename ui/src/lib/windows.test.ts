import { describe, expect, it } from "vitest";
import { windowsProblem, zoneProblem } from "./windows";

describe("window text", () => {
  it("accepts what the core accepts", () => {
    expect(windowsProblem("Mon-Fri 22:00-05:00, Sat-Sun 23:00-06:00")).toBeNull();
    expect(windowsProblem("daily 00:00-24:00; Wed 12:00:05-13:00")).toBeNull();
    expect(windowsProblem("")).toBeNull();
  });

  it("refuses with the core's one-line reasons", () => {
    expect(windowsProblem("Mon-Fro 22:00-05:00")).toBe('invalid window "Mon-Fro 22:00-05:00": unknown day "Fro"');
    expect(windowsProblem("Mon 25:00-05:00")).toContain("out of range");
    expect(windowsProblem("Mon 22:00-22:00")).toContain("same time");
    expect(zoneProblem("Europe/Berlin")).toBeNull();
    expect(zoneProblem("Mars/Olympus")).toContain('unknown time zone "Mars/Olympus"');
  });
});
