import { describe, expect, it } from "vitest";
import { MockBackend } from "./backend";
import { demoWorld } from "./fixtures";

// The mock must refuse what the real commands refuse (src-tauri/src/picked.rs): file commands
// take only handles from the dialog commands, each for its purpose.
describe("file handles in the mock backend", () => {
  const backend = () => new MockBackend(demoWorld(Date.now()), { pickFile: "/home/ops/fleet.csv" });
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return (e as { code: string }).code;
    }
    return "accepted";
  };

  it("accepts a handle from the dialog and refuses a path the window made up", () => {
    const b = backend();
    const picked = b.handle("pick_file", { title: "Import", filters: [] }) as { handle: string; name: string; path: string };
    expect(picked.name).toBe("fleet.csv");
    expect(picked.handle).toMatch(/^[0-9a-f]{32}$/);
    expect(code(() => b.handle("fleet_import_csv", { file: picked.handle }))).toBe("accepted");
    for (const made_up of ["/etc/passwd", picked.path, "", undefined]) {
      expect(code(() => b.handle("fleet_import_csv", { file: made_up }))).toBe("invalid_input");
      expect(code(() => b.handle("deployment_export", { deploymentId: "x", format: "csv", file: made_up }))).toBe("invalid_input");
    }
  });

  it("refuses an export format Tauri would not deserialize, before the handle", () => {
    const b = backend();
    const save = b.handle("save_file", { title: "Export", defaultName: "d.pdf" }) as { handle: string };
    expect(() => b.handle("deployment_export", { deploymentId: "x", format: "pdf", file: save.handle })).toThrow(/unknown variant `pdf`/);
  });

  it("keeps open and save handles apart", () => {
    const b = backend();
    const open = b.handle("pick_file", { title: "Import", filters: [] }) as { handle: string };
    const save = b.handle("save_file", { title: "Export", defaultName: "d.csv" }) as { handle: string };
    expect(code(() => b.handle("fleet_import_csv", { file: save.handle }))).toBe("invalid_input");
    expect(code(() => b.handle("deployment_export", { deploymentId: "x", format: "html", file: open.handle }))).toBe("invalid_input");
  });
});

// Store windows: the same refusals (code and one-line message) as src-tauri's fleet commands
// and the core's review.
describe("store windows in the mock backend", () => {
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return (e as { code: string; message: string }).message;
    }
    return "accepted";
  };

  it("checks zones and windows as the core does and plans the review per store", () => {
    const b = new MockBackend(demoWorld(Date.now()));
    expect(code(() => b.handle("fleet_set_windows", { storeId: "store-001", windows: "Mon-Fro 22:00-05:00" }))).toBe(
      'invalid window "Mon-Fro 22:00-05:00": unknown day "Fro"',
    );
    expect(code(() => b.handle("fleet_set_timezone", { storeId: "store-001", zone: "Mars/Olympus" }))).toContain("unknown time zone");
    b.handle("fleet_set_timezone", { storeId: "store-001", zone: "Europe/Paris" });
    const s = b.handle("fleet_set_windows", { storeId: "store-001", windows: "Mon-Fri 22:00-05:00;Sat 23:00-06:00" });
    expect(s).toEqual({ store_id: "store-001", timezone: "Europe/Paris", windows: "Mon-Fri 22:00-05:00, Sat 23:00-06:00" });
    expect(b.handle("fleet_stores", {})).toEqual([s]);
  });
});

// Search: the core's refusals (history::search::SearchError), code and message.
describe("search in the mock backend", () => {
  const refusal = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return e as { code: string; message: string };
    }
    return null;
  };
  const filter = { text: null, store_id: null, controller_id: null, firmware_version: null, state: null, origin: null, from: null, to: null };

  it("refuses a range that ends before it starts and a page size out of bounds", () => {
    const b = new MockBackend(demoWorld(Date.now()));
    const page = { before: null, limit: 10 };
    expect(refusal(() => b.handle("activity_search", { filter: { ...filter, event_type: null, outcomes: [], from: 10, to: 5 }, page }))).toEqual({
      code: "invalid_input",
      message: "the time range ends before it starts",
    });
    expect(refusal(() => b.handle("history_search", { filter, page: { offset: 0, limit: 501 } }))).toEqual({
      code: "invalid_input",
      message: "a page holds 1 to 500 rows, not 501",
    });
    expect(refusal(() => b.handle("history_search", { filter, page: { offset: 0, limit: 10 } }))).toBeNull();
  });
});

// Upkeep: the same refusals (code and one-line message) as src-tauri's `fleet_remove` and the
// core's skip-current rule.
describe("removing controllers and skipping current ones in the mock backend", () => {
  const refusal = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      const { code, message } = e as { code: string; message: string };
      return `${code}: ${message}`;
    }
    return "accepted";
  };
  const request = (targets: { store_id: string; controller_id: string }[], skip_current: boolean) => ({
    artifact_id: 3,
    serving: { kind: "built_in" },
    targets,
    ack_timeout_secs: 30,
    completion_timeout_secs: 600,
    policy: null,
    skip_current,
  });

  it("removes a controller once, then says it is not in the inventory", () => {
    const b = new MockBackend(demoWorld(Date.now()));
    const args = { storeId: "store-001", controllerId: "pos-01" };
    expect(refusal(() => b.handle("fleet_remove", args))).toBe("accepted");
    expect((b.handle("fleet_list") as unknown[]).length).toBe(95);
    expect(refusal(() => b.handle("fleet_remove", args))).toBe("not_found: store-001/pos-01 is not in the inventory");
  });

  it("counts controllers on the version as skipped and refuses when all are", () => {
    const b = new MockBackend(demoWorld(Date.now()));
    const fleet = b.handle("fleet_list") as { store_id: string; controller_id: string; firmware_version: string | null }[];
    const on = fleet.filter((c) => c.firmware_version === "2.5.0").map(({ store_id, controller_id }) => ({ store_id, controller_id }));
    const off = fleet.filter((c) => c.firmware_version !== "2.5.0").map(({ store_id, controller_id }) => ({ store_id, controller_id }));
    const review = b.handle("deployment_review", { request: request([on[0]!, off[0]!, on[1]!], true) }) as { target_count: number; skipped_current: number };
    expect([review.target_count, review.skipped_current]).toEqual([1, 2]);
    const plain = b.handle("deployment_review", { request: request([on[0]!, off[0]!], false) }) as { target_count: number; skipped_current: number };
    expect([plain.target_count, plain.skipped_current]).toEqual([2, 0]);
    expect(refusal(() => b.handle("deployment_review", { request: request([on[0]!], true) }))).toBe(
      "invalid_input: every chosen controller already runs 2.5.0: nothing to send",
    );
  });
});
