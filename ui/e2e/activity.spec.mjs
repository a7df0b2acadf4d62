import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { harness, screenshot, unnamedControls } from "./support.mjs";

const rows = (page) =>
  page.getByTestId("activity-row").evaluateAll((rs) =>
    rs.map((r) => ({ id: Number(r.getAttribute("data-id")), outcome: r.getAttribute("data-outcome"), event: r.getAttribute("data-event"), store: r.getAttribute("data-store"), text: r.textContent })),
  );

/** Waits until the shown rows are `n` and all pass `check` (run in the page). */
async function showsWhere(page, n, check) {
  await page.waitForFunction(
    ([n, src]) => {
      const rs = [...document.querySelectorAll('[data-testid="activity-row"]')];
      return rs.length === n && rs.every(new Function("r", `return (${src})(r)`));
    },
    [n, check.toString()],
  );
}

const byId = (a, b) => b.id - a.id;

// The fixture's rule (mock/fixtures.ts manyMessages), to count what a filter should find.
const DEPLOYMENTS = ["dep-20261127-0712", "dep-20261120-0930", "ext-7f3e2a", "dep-20261113-1544"];
const EVENTS = ["update_firmware", "update_firmware_ack", "update_firmware_completed", "update_firmware_failed"];
const many = (n) =>
  Array.from({ length: n }, (_, i) => i + 1).map((id) => ({
    id,
    deployment: id % 25 === 0 ? null : DEPLOYMENTS[Math.floor(id / 7) % 4],
    event: id % 25 === 0 ? null : EVENTS[id % 4],
  }));
const count = (n, keep) => Math.min(200, many(n).filter(keep).length);

describe("activity view", () => {
  const h = harness({ before, after, afterEach });

  it("shows recent messages in and out, rejected ones with their reason", async () => {
    const page = await h.open({ hash: "#/activity" });
    await page.getByTestId("activity-row").first().waitFor();
    assert.equal(await page.getByTestId("activity-row").count(), 40);
    assert.equal(await page.getByTestId("activity-summary").getAttribute("data-live"), "true");
    assert.ok((await page.locator('[data-testid="activity-row"][data-direction="out"]').count()) > 0);
    await page.getByTestId("activity-filter-outcome").selectOption("not_json");
    await showsWhere(page, 3, (r) => r.getAttribute("data-outcome") === "not_json");
    assert.match(await page.getByTestId("activity-row").first().textContent(), /body is not JSON/);
    assert.equal(await page.getByTestId("activity-summary").getAttribute("data-live"), "false");
    // A whole group: every rejection code; every reply that changed nothing.
    await page.getByTestId("activity-filter-outcome").selectOption("group:Rejected");
    await showsWhere(page, 3, (r) => r.getAttribute("data-outcome") === "not_json");
    await page.getByTestId("activity-filter-outcome").selectOption("group:Changed nothing");
    await page.waitForFunction(() => {
      const rs = [...document.querySelectorAll('[data-testid="activity-row"]')];
      return rs.length > 0 && rs.every((r) => r.getAttribute("data-outcome") === "duplicate");
    });
    assert.deepEqual(await unnamedControls(page), []);
    await screenshot(page, "activity");
  });

  it("adds live batches at the top, and not while a filter is set", async () => {
    const page = await h.open({ hash: "#/activity" });
    await page.getByTestId("activity-row").first().waitFor();
    const push = (id, outcome) =>
      page.evaluate(
        ([id, outcome]) =>
          window.__mock.pushActivity([
            { id, direction: "in", topic: "stores/store-009/controllers/pos-01/events", body: "{}", at: Date.now(), event_type: "update_firmware_ack", deployment_id: "x", store_id: "store-009", controller_id: "pos-01", outcome, reason: "reply for an unknown deployment" },
          ]),
        [id, outcome],
      );
    await push(5000, "unknown_deployment");
    await page.waitForFunction(() => document.querySelector('[data-testid="activity-row"]')?.getAttribute("data-outcome") === "unknown_deployment");
    assert.equal(await page.getByTestId("activity-row").count(), 41);

    await page.getByTestId("activity-filter-store").fill("store-009");
    await page.waitForFunction(() => {
      const rs = [...document.querySelectorAll('[data-testid="activity-row"]')];
      return rs.length > 0 && rs.every((r) => r.getAttribute("data-store") === "store-009");
    });
    const filtered = await page.getByTestId("activity-row").count();
    await push(5001, "unknown_target");
    await page.waitForTimeout(300);
    assert.equal(await page.getByTestId("activity-row").count(), filtered, "a search shows what matched when it ran");
    // Cleared, the view is live again and has the message that came meanwhile.
    await page.getByTestId("activity-clear").click();
    await page.waitForFunction(() => document.querySelector('[data-testid="activity-row"]')?.getAttribute("data-outcome") === "unknown_target");
    assert.equal(await page.getByTestId("activity-row").count(), 42);
  });

  it("filters by store, controller, version, state, origin, event type, outcome and text", async () => {
    const page = await h.open({ hash: "#/activity", scenario: { messages: 600 } });
    await page.getByTestId("activity-row").first().waitFor();
    // manyMessages: store-(1 + id % 12), controller by id % 8, deployment by floor(id / 7) % 4.
    await page.getByTestId("activity-filter-store").fill("store-005");
    await showsWhere(page, 50, (r) => r.getAttribute("data-store") === "store-005");
    await page.getByTestId("activity-filter-controller").fill("shelf-05");
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="activity-row"]')].every((r) => r.textContent.includes("shelf-05")));
    const both = await rows(page);
    assert.ok(both.length > 0 && both.every((r) => r.store === "store-005"), "store and controller");
    await page.getByTestId("activity-clear").click();

    // Deployment fields: 1.8.0 and "observed" are ext-7f3e2a; "cancelled" is dep-20261113-1544.
    for (const [field, value, deployment] of [
      ["version", "1.8.0", "ext-7f3e2a"],
      ["origin", "observed", "ext-7f3e2a"],
      ["state", "cancelled", "dep-20261113-1544"],
    ]) {
      const control = page.getByTestId(`activity-filter-${field}`);
      if (field === "version") await control.fill(value);
      else await control.selectOption(value);
      const want = count(600, (m) => m.deployment === deployment);
      await showsWhere(page, want, new Function("r", `return r.textContent.includes(${JSON.stringify(deployment)})`));
      if (field === "version") await control.fill("");
      else await control.selectOption("");
    }

    await page.getByTestId("activity-filter-event").selectOption("update_firmware_failed");
    await showsWhere(page, count(600, (m) => m.event === "update_firmware_failed"), (r) => r.getAttribute("data-event") === "update_firmware_failed");
    await page.getByTestId("activity-filter-outcome").selectOption("duplicate");
    await page.waitForFunction(() => {
      const rs = [...document.querySelectorAll('[data-testid="activity-row"]')];
      return rs.length > 0 && rs.every((r) => r.getAttribute("data-outcome") === "duplicate" && r.getAttribute("data-event") === "update_firmware_failed");
    });
    await page.getByTestId("activity-clear").click();

    // Text: the topic, the reason, or the deployment's id, version or URL.
    await page.getByTestId("activity-search").fill("SCALE-FW");
    await showsWhere(page, count(600, (m) => m.deployment === "ext-7f3e2a"), (r) => r.textContent.includes("ext-7f3e2a"));
    await page.getByTestId("activity-search").fill("not JSON");
    await showsWhere(page, 24, (r) => r.getAttribute("data-outcome") === "not_json");
    await page.getByTestId("activity-search").fill("no-such-thing");
    await page.getByTestId("activity-no-match").waitFor();
    assert.deepEqual(await unnamedControls(page), []);
  });

  it("filters by time, and refuses a range that ends before it starts", async () => {
    const page = await h.open({ hash: "#/activity", scenario: { messages: 600 } });
    await page.getByTestId("activity-row").first().waitFor();
    const today = await page.evaluate(() => {
      const t = new Date();
      return `${t.getFullYear()}-${String(t.getMonth() + 1).padStart(2, "0")}-${String(t.getDate()).padStart(2, "0")}`;
    });
    const tomorrow = await page.evaluate(() => {
      const t = new Date(Date.now() + 86400_000);
      return `${t.getFullYear()}-${String(t.getMonth() + 1).padStart(2, "0")}-${String(t.getDate()).padStart(2, "0")}`;
    });
    // All 600 are from the last 10 minutes: tomorrow on has none.
    await page.getByTestId("activity-filter-from").fill(tomorrow);
    await page.getByTestId("activity-no-match").waitFor();
    await page.getByTestId("activity-filter-from").fill(today);
    await page.getByTestId("activity-filter-to").fill(today);
    await showsWhere(page, 200, () => true);
    await page.getByTestId("activity-filter-from").fill(tomorrow);
    await page.getByTestId("error-banner").waitFor();
    assert.equal(await page.getByTestId("error-banner").getAttribute("data-code"), "invalid_input");
    assert.match(await page.getByTestId("error-banner").textContent(), /the time range ends before it starts/);
  });

  it("pages through many messages, newest first, none twice", async () => {
    const page = await h.open({ hash: "#/activity", scenario: { messages: 1000 } });
    await page.getByTestId("activity-row").first().waitFor();
    assert.equal(await page.getByTestId("activity-row").count(), 200);
    for (const n of [400, 600, 800, 1000]) {
      await page.getByTestId("activity-more").click();
      await page.waitForFunction((n) => document.querySelectorAll('[data-testid="activity-row"]').length === n, n);
    }
    assert.equal(await page.getByTestId("activity-more").count(), 0);
    const all = await rows(page);
    assert.deepEqual(all.map((r) => r.id), [...all].sort(byId).map((r) => r.id));
    assert.equal(new Set(all.map((r) => r.id)).size, 1000);
    assert.equal(all[0].id, 1000);
    assert.equal(all[999].id, 1);
  });

  it("a scan cut short by its bound says how far it searched and searches on", async () => {
    const page = await h.open({ hash: "#/activity", scenario: { messages: 1000, scanRows: 50 } });
    await page.getByTestId("activity-row").first().waitFor();
    // 1 in 25 is rejected (not_json): 40 in all. A page goes on through 4 scans of 50 ids:
    // 8 found in the newest 200.
    await page.getByTestId("activity-filter-outcome").selectOption("not_json");
    await showsWhere(page, 8, (r) => r.getAttribute("data-outcome") === "not_json");
    assert.match(await page.getByTestId("activity-searched-to").textContent(), /Searched back to/);
    assert.match(await page.getByTestId("activity-more").textContent(), /Search older messages/);
    for (const n of [16, 24, 32, 40]) {
      await page.getByTestId("activity-more").click();
      await page.waitForFunction((n) => document.querySelectorAll('[data-testid="activity-row"]').length === n, n);
    }
    await page.waitForFunction(() => !document.querySelector('[data-testid="activity-more"]'));
    // A search by store uses the index: no bound, full pages.
    await page.getByTestId("activity-clear").click();
    await page.getByTestId("activity-filter-store").fill("store-003");
    await showsWhere(page, 84, (r) => r.getAttribute("data-store") === "store-003");
    assert.equal(await page.getByTestId("activity-searched-to").count(), 0);
  });

  it("has an empty state that says what to do", async () => {
    const page = await h.open({ hash: "#/activity", scenario: { world: "empty" } });
    assert.match(await page.getByTestId("empty-state").textContent(), /Connect to a broker/);
  });

  it("shows a boundary error by its code", async () => {
    const page = await h.open({ hash: "#/activity", scenario: { fail: { activity_watch: { code: "unavailable", message: "not connected" } } } });
    assert.equal(await page.getByTestId("error-banner").getAttribute("data-code"), "unavailable");
    const search = await h.open({ hash: "#/activity", scenario: { fail: { activity_search: { code: "internal", message: "database disk image is malformed" } } } });
    assert.equal(await search.getByTestId("error-banner").getAttribute("data-code"), "internal");
  });
});
