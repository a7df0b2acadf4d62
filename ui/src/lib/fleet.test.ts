import { describe, expect, it } from "vitest";
import type { Controller } from "../bindings/Controller";
import { ANY_FILTER, flattenGroups, groupByStore, matches, selectionKey, storeCheck, toggleAll, toggleStore } from "./fleet";

const c = (store: string, ctl: string, over: Partial<Controller> = {}): Controller => ({
  store_id: store,
  controller_id: ctl,
  store_name: null,
  controller_name: null,
  firmware_version: null,
  last_seen: null,
  last_result: null,
  last_deployment_id: null,
  source: "discovered",
  ...over,
});

const fleet = [
  c("store-10", "pos-2", { store_name: "Lyon", firmware_version: "2.4.1", last_result: "completed" }),
  c("store-2", "pos-1", { store_name: "Porto", source: "imported", last_result: "failed" }),
  c("store-10", "pos-1", { store_name: "Lyon" }),
];

describe("fleet search and filters", () => {
  it("matches every word against ids, names and version", () => {
    expect(fleet.filter((x) => matches(x, { ...ANY_FILTER, query: "lyon 2.4" }))).toHaveLength(1);
    expect(fleet.filter((x) => matches(x, { ...ANY_FILTER, query: "POS" }))).toHaveLength(3);
  });
  it("filters by source and last result", () => {
    expect(fleet.filter((x) => matches(x, { ...ANY_FILTER, source: "imported" }))).toHaveLength(1);
    expect(fleet.filter((x) => matches(x, { ...ANY_FILTER, result: "none" }))).toHaveLength(1);
    expect(fleet.filter((x) => matches(x, { ...ANY_FILTER, result: "failed" }))[0].store_id).toBe("store-2");
  });
  it("groups by store in natural order", () => {
    const g = groupByStore(fleet);
    expect(g.map((x) => x.store_id)).toEqual(["store-2", "store-10"]);
    expect(g[1].controllers.map((x) => x.controller_id)).toEqual(["pos-1", "pos-2"]);
  });
  it("flattens groups into store headers, each followed by its controllers", () => {
    const rows = flattenGroups(groupByStore(fleet));
    expect(rows.map((r) => (r.kind === "store" ? r.group.store_id : `  ${r.controller.controller_id}`))).toEqual([
      "store-2",
      "  pos-1",
      "store-10",
      "  pos-1",
      "  pos-2",
    ]);
    expect(rows.every((r) => r.kind === "store" || r.group.store_id === r.controller.store_id)).toBe(true);
  });
});

describe("selection", () => {
  const groups = groupByStore(fleet);
  it("toggles a store: all, then none", () => {
    let sel = new Set<string>([selectionKey("store-10", "pos-1")]);
    expect(storeCheck(groups[1], sel)).toBe("some");
    sel = toggleStore(groups[1], sel);
    expect(storeCheck(groups[1], sel)).toBe("all");
    sel = toggleStore(groups[1], sel);
    expect(storeCheck(groups[1], sel)).toBe("none");
  });
  it("select all adds the listed ones and keeps others", () => {
    const other = selectionKey("x", "y");
    let sel = toggleAll(fleet, new Set([other]));
    expect(sel.size).toBe(4);
    sel = toggleAll(fleet, sel);
    expect([...sel]).toEqual([other]);
  });
});
