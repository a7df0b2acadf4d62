import { describe, expect, it } from "vitest";
import type { Transition } from "../bindings/Transition";
import { Timeline, seriesOf } from "./timeline";

const t = (to: Transition["to"], at: number): Transition => ({
  deployment_id: "d",
  store_id: "s",
  controller_id: "c",
  attempt: 1,
  from: "sent",
  to,
  at,
  errors: [],
  wave: 0,
});

describe("Timeline", () => {
  it("maps statuses to series", () => {
    expect(seriesOf("acknowledged")).toBe("acks");
    expect(seriesOf("completed")).toBe("completions");
    expect(seriesOf("timed_out")).toBe("failures");
    expect(seriesOf("queued")).toBeNull();
  });

  it("buckets events into equal spans covering start to now", () => {
    const tl = new Timeline(0);
    tl.addTransitions([t("acknowledged", 500), t("acknowledged", 1500), t("completed", 9_500), t("failed", 9_900), t("sent", 100)]);
    const { width, buckets } = tl.buckets(5, 10_000);
    expect(width).toBe(3000);
    expect(buckets).toHaveLength(5);
    expect(buckets[0]).toMatchObject({ acks: 2, completions: 0, failures: 0 });
    expect(buckets[3]).toMatchObject({ completions: 1, failures: 1 });
    const sum = buckets.reduce((n, b) => n + b.acks + b.completions + b.failures, 0);
    expect(sum).toBe(4);
  });

  it("widens buckets as time goes on, never below one second", () => {
    const tl = new Timeline(0);
    expect(tl.buckets(60, 10_000).width).toBe(1000);
    expect(tl.buckets(60, 600_000).width).toBe(11_000);
  });

  it("seeds from current rows", () => {
    const tl = new Timeline(0);
    tl.seed("d", [{ store_id: "s", controller_id: "c", status: "completed", attempt: 1, errors: [], updated_at: 2000, wave: 0 }]);
    expect(tl.buckets(1, 3000).buckets[0].completions).toBe(1);
  });

  it("counts a transition once: again live or after the row it led to; another attempt or deployment is another transition", () => {
    const tl = new Timeline(0);
    tl.seed("d", [{ store_id: "s", controller_id: "c", status: "acknowledged", attempt: 1, errors: [], updated_at: 1500, wave: 0 }]);
    tl.addTransitions([t("acknowledged", 1500), t("acknowledged", 1500)]);
    tl.addTransitions([{ ...t("acknowledged", 1500), attempt: 2 }, { ...t("acknowledged", 1500), deployment_id: "other" }]);
    expect(tl.buckets(1, 3000).buckets[0].acks).toBe(3);
  });
});
