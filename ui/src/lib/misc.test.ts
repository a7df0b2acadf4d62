import { describe, expect, it } from "vitest";
import type { MessageRow } from "../bindings/MessageRow";
import { isRejected, outcomeKind, prependBatch } from "./activity";
import { frameScheduler } from "./frame";
import { parseRoute, routeHash, type Route } from "./route";
import { keyTarget, scrollToReveal, visibleRange } from "./virtual";

describe("routes", () => {
  it("parses views and deployments, defaulting to the overview", () => {
    expect(parseRoute("#/fleet")).toEqual({ view: "fleet" });
    expect(parseRoute("#/connection")).toEqual({ view: "connection" });
    expect(parseRoute("#/deployment/dep%2F1")).toEqual({ view: "deployment", deploymentId: "dep/1" });
    expect(parseRoute("")).toEqual({ view: "overview" });
    expect(parseRoute("#/nope")).toEqual({ view: "overview" });
  });
  it("parses the Fleet view's filter, ignoring unknown results", () => {
    expect(parseRoute("#/fleet?q=store-003&result=failed")).toEqual({ view: "fleet", filter: { query: "store-003", result: "failed" } });
    expect(parseRoute("#/fleet?q=2.4.1")).toEqual({ view: "fleet", filter: { query: "2.4.1" } });
    expect(parseRoute("#/fleet?result=bogus")).toEqual({ view: "fleet" });
  });
  it("round-trips", () => {
    const routes: Route[] = [
      { view: "history" },
      { view: "overview" },
      { view: "deployment", deploymentId: "a b" },
      { view: "fleet", filter: { query: "Malmö store", result: "timed_out" } },
    ];
    for (const r of routes) expect(parseRoute(routeHash(r))).toEqual(r);
    expect(routeHash({ view: "fleet", filter: {} })).toBe("#/fleet");
  });
});

describe("visibleRange", () => {
  it("covers the viewport plus overscan, clamped", () => {
    expect(visibleRange(0, 340, 34, 10_000, 5)).toEqual({ start: 0, end: 16 });
    expect(visibleRange(34_000, 340, 34, 10_000, 5)).toEqual({ start: 995, end: 1016 });
    expect(visibleRange(10_000_000, 340, 34, 100, 5)).toEqual({ start: 94, end: 100 });
    expect(visibleRange(0, 340, 34, 0)).toEqual({ start: 0, end: 0 });
  });
  it("scrolls just enough to reveal a row", () => {
    expect(scrollToReveal(0, 340, 340, 34)).toBe(0);
    expect(scrollToReveal(20, 0, 340, 34)).toBe(21 * 34 - 340);
    expect(scrollToReveal(5, 0, 340, 34)).toBe(0);
  });
  it("moves by the navigation keys, clamped to the list", () => {
    expect(keyTarget("ArrowDown", -1, 100, 10)).toBe(0);
    expect(keyTarget("ArrowDown", 99, 100, 10)).toBe(99);
    expect(keyTarget("ArrowUp", 0, 100, 10)).toBe(0);
    expect(keyTarget("End", 3, 100, 10)).toBe(99);
    expect(keyTarget("Home", 50, 100, 10)).toBe(0);
    expect(keyTarget("PageDown", 95, 100, 10)).toBe(99);
    expect(keyTarget("PageUp", 15, 100, 10)).toBe(5);
    expect(keyTarget("a", 3, 100, 10)).toBeNull();
    expect(keyTarget("ArrowDown", -1, 0, 10)).toBeNull();
  });
});

describe("frameScheduler", () => {
  it("runs once per frame however often it is asked", () => {
    const frames: (() => void)[] = [];
    let runs = 0;
    const s = frameScheduler(
      () => (runs += 1),
      (cb) => frames.push(cb),
      () => {},
    );
    for (let i = 0; i < 100; i++) s.request();
    expect(frames).toHaveLength(1);
    frames.shift()!();
    expect(runs).toBe(1);
    s.request();
    expect(frames).toHaveLength(1);
  });
  it("can be cancelled", () => {
    let cancelled = -1;
    const s = frameScheduler(
      () => {},
      () => 7,
      (id) => (cancelled = id),
    );
    s.request();
    s.cancel();
    expect(cancelled).toBe(7);
  });
});

const msg = (id: number, over: Partial<MessageRow> = {}): MessageRow => ({
  id,
  direction: "in",
  topic: `stores/s/controllers/c/events`,
  body: "{}",
  at: id,
  event_type: null,
  deployment_id: null,
  store_id: null,
  controller_id: null,
  outcome: "applied",
  reason: null,
  ...over,
});

describe("activity log", () => {
  it("prepends newest first, drops duplicates, keeps a bound", () => {
    const log = prependBatch([msg(2), msg(1)], [msg(3), msg(4), msg(2)], 3);
    expect(log.map((m) => m.id)).toEqual([4, 3, 2]);
  });
  it("replaces a command sent again once it left the outbox, in place", () => {
    const waiting = msg(1, { direction: "out", outcome: "outbox" });
    const log = prependBatch([msg(2), waiting], [msg(3), { ...waiting, outcome: "published" }], 10);
    expect(log.map((m) => [m.id, m.outcome])).toEqual([
      [3, "applied"],
      [2, "applied"],
      [1, "published"],
    ]);
  });
  it("classifies outcomes", () => {
    expect(outcomeKind(msg(1))).toBe("accepted");
    expect(outcomeKind(msg(1, { outcome: "duplicate" }))).toBe("unchanged");
    expect(outcomeKind(msg(1, { outcome: "observed" }))).toBe("observed");
    expect(isRejected(msg(1, { outcome: "unknown_correlation_id", reason: "ack whose correlation id matches no command" }))).toBe(true);
    expect(isRejected(msg(1, { direction: "out", outcome: "outbox" }))).toBe(false);
  });
});
