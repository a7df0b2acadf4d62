import { describe, expect, it } from "vitest";
import { dayBound, deploymentFilter, emptyFields, isUnfiltered, messageFilter } from "./search";

describe("search filters", () => {
  it("turns a day into its first and last millisecond, local time", () => {
    const start = dayBound("2026-03-07", false)!;
    const end = dayBound("2026-03-07", true)!;
    expect(new Date(start).getHours()).toBe(0);
    expect(new Date(start).getDate()).toBe(7);
    expect(new Date(end + 1).getDate()).toBe(8);
    expect(new Date(end).getDate()).toBe(7);
    expect(dayBound("", false)).toBeNull();
    expect(dayBound("7/3/2026", false)).toBeNull();
  });

  it("sends blank fields as null and trims the rest", () => {
    const f = { ...emptyFields(), store: " store-004 ", state: "paused" as const, event: "update_firmware_ack", text: "  " };
    expect(deploymentFilter(f)).toEqual({
      text: null,
      store_id: "store-004",
      controller_id: null,
      firmware_version: null,
      state: "paused",
      origin: null,
      from: null,
      to: null,
    });
    expect(messageFilter(f).event_type).toBe("update_firmware_ack");
    expect(messageFilter(f).outcomes).toEqual([]);
    expect(messageFilter({ ...f, outcome: "not_json" }).outcomes).toEqual(["not_json"]);
    const rejected = messageFilter({ ...f, outcome: "group:Rejected" }).outcomes;
    expect(rejected).toContain("unknown_deployment");
    expect(rejected).toContain("not_json");
    expect(rejected).not.toContain("applied");
    expect(isUnfiltered(messageFilter(emptyFields()))).toBe(true);
    expect(isUnfiltered(messageFilter(f))).toBe(false);
  });
});
