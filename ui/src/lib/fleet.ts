// The fleet as the views group it: search, filters, stores, and selections of controllers.
import type { Controller } from "../bindings/Controller";
import type { ControllerSource } from "../bindings/ControllerSource";
import type { TargetStatus } from "../bindings/TargetStatus";

export type FleetFilter = {
  query: string;
  source: ControllerSource | "any";
  result: TargetStatus | "any" | "none";
};

export const ANY_FILTER: FleetFilter = { query: "", source: "any", result: "any" };

/** Search matches ids, names and the firmware version, case-insensitive; every word must match. */
export function matches(c: Controller, f: FleetFilter): boolean {
  if (f.source !== "any" && c.source !== f.source) return false;
  if (f.result === "none" && c.last_result !== null) return false;
  if (f.result !== "any" && f.result !== "none" && c.last_result !== f.result) return false;
  const words = f.query.trim().toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const hay = [c.store_id, c.controller_id, c.store_name ?? "", c.controller_name ?? "", c.firmware_version ?? ""]
    .join(" ")
    .toLowerCase();
  return words.every((w) => hay.includes(w));
}

export type StoreGroup = { store_id: string; store_name: string | null; controllers: Controller[] };

// One collator for every comparison: `localeCompare` with options builds one per call,
// which is most of the time of sorting 10,000 controllers.
const natural = new Intl.Collator("en", { numeric: true });

/** Controllers grouped by store, stores and controllers sorted by id. */
export function groupByStore(controllers: readonly Controller[]): StoreGroup[] {
  const by = new Map<string, StoreGroup>();
  for (const c of controllers) {
    let g = by.get(c.store_id);
    if (!g) {
      g = { store_id: c.store_id, store_name: c.store_name, controllers: [] };
      by.set(c.store_id, g);
    }
    g.store_name ??= c.store_name;
    g.controllers.push(c);
  }
  const groups = [...by.values()].sort((a, b) => natural.compare(a.store_id, b.store_id));
  for (const g of groups) g.controllers.sort((a, b) => natural.compare(a.controller_id, b.controller_id));
  return groups;
}

/** One row of a store-grouped list: a store's header, or one of its controllers. */
export type FleetRow = { kind: "store"; group: StoreGroup } | { kind: "controller"; group: StoreGroup; controller: Controller };

/** The groups as one flat list, each store's header before its controllers, for a virtual list. */
export function flattenGroups(groups: readonly StoreGroup[]): FleetRow[] {
  const rows: FleetRow[] = [];
  for (const group of groups) {
    rows.push({ kind: "store", group });
    for (const controller of group.controllers) rows.push({ kind: "controller", group, controller });
  }
  return rows;
}

export const selectionKey = (storeId: string, controllerId: string) => `${storeId}/${controllerId}`;

export type StoreCheck = "all" | "some" | "none";

/** Whether a store's checkbox is checked, unchecked or mixed. */
export function storeCheck(group: StoreGroup, selected: ReadonlySet<string>): StoreCheck {
  let n = 0;
  for (const c of group.controllers) if (selected.has(selectionKey(c.store_id, c.controller_id))) n += 1;
  return n === 0 ? "none" : n === group.controllers.length ? "all" : "some";
}

/** Selects every controller of the store, or none when all already were. */
export function toggleStore(group: StoreGroup, selected: ReadonlySet<string>): Set<string> {
  const next = new Set(selected);
  const all = storeCheck(group, selected) === "all";
  for (const c of group.controllers) {
    const k = selectionKey(c.store_id, c.controller_id);
    if (all) next.delete(k);
    else next.add(k);
  }
  return next;
}

/** Adds every listed controller, or removes them all when all already were selected. */
export function toggleAll(controllers: readonly Controller[], selected: ReadonlySet<string>): Set<string> {
  const keys = controllers.map((c) => selectionKey(c.store_id, c.controller_id));
  const all = keys.length > 0 && keys.every((k) => selected.has(k));
  const next = new Set(selected);
  for (const k of keys) {
    if (all) next.delete(k);
    else next.add(k);
  }
  return next;
}
