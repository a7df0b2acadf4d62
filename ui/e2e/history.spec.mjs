import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { harness, screenshot, unnamedControls } from "./support.mjs";

const rowIds = (page) => page.getByTestId("history-row").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-deployment-id")));

/** Waits until the list shows exactly `ids`, in order. */
async function shows(page, ids) {
  await page.waitForFunction(
    (want) => JSON.stringify([...document.querySelectorAll('[data-testid="history-row"]')].map((r) => r.getAttribute("data-deployment-id"))) === JSON.stringify(want),
    ids,
  );
}

/** A local day `days` from today as a date input's value. */
const day = (page, days) =>
  page.evaluate((d) => {
    const t = new Date(Date.now() + d * 86400_000);
    return `${t.getFullYear()}-${String(t.getMonth() + 1).padStart(2, "0")}-${String(t.getDate()).padStart(2, "0")}`;
  }, days);

describe("history view", () => {
  const h = harness({ before, after, afterEach });

  it("lists past deployments newest first, other operators' marked", async () => {
    const page = await h.open({ hash: "#/history" });
    await page.getByTestId("history-row").first().waitFor();
    assert.deepEqual(await rowIds(page), ["dep-20261127-0712", "ext-7f3e2a", "dep-20261120-0930", "dep-20261113-1544"]);
    assert.equal(await page.getByTestId("history-total").getAttribute("data-total"), "4");
    const observed = page.locator('[data-testid="history-row"][data-origin="observed"]');
    assert.equal(await observed.count(), 1);
    assert.match(await observed.textContent(), /other operator/);
    // Each says which broker it belongs to; one from before brokers were recorded, none.
    const brokers = await page.getByTestId("history-broker").allTextContents();
    assert.equal(brokers[0].trim(), "for the built-in demo broker");
    assert.match(brokers[3], /broker unknown/);
    assert.deepEqual(await unnamedControls(page), []);
    await screenshot(page, "history");
  });

  it("searches and opens a deployment", async () => {
    const page = await h.open({ hash: "#/history" });
    await page.getByTestId("history-search").fill("2.4.1");
    await shows(page, ["dep-20261120-0930"]);
    await page.getByTestId("history-search").fill("no-such-thing");
    await page.getByTestId("empty-state").waitFor();
    assert.match(await page.getByTestId("empty-state").textContent(), /No deployment matches/);
    await page.getByRole("button", { name: "Clear the filters" }).click();
    await page.getByRole("button", { name: "Open deployment ext-7f3e2a" }).click();
    await page.locator('[data-testid="view-deployment"][data-deployment-id="ext-7f3e2a"]').waitFor();
    assert.equal(await page.evaluate(() => location.hash), "#/deployment/ext-7f3e2a");
  });

  it("prunes finished deployments older than a date, into an archive, after saying what goes", async () => {
    const page = await h.open({ hash: "#/history" });
    await page.getByTestId("history-row").first().waitFor();
    const before = await page.getByTestId("history-row").count();
    const cutoff = Date.parse("2026-11-25T00:00:00Z");
    const expected = await page.evaluate((at) => window.__mock.handle("history_prune_plan", { before: at }), cutoff);
    assert.ok(expected.deployments > 0, JSON.stringify(expected));
    await page.getByTestId("prune-before").fill("2026-11-25");
    await page.getByTestId("prune-review").click();
    const plan = page.getByTestId("prune-plan");
    await plan.waitFor();
    assert.match(await plan.textContent(), new RegExp(`Removes ${expected.deployments} finished deployments \\(${expected.targets} targets\\)`));
    // Nothing goes until the confirmation, which states what goes; declining keeps all.
    let asked = "";
    page.once("dialog", (d) => { asked = d.message(); d.dismiss(); });
    await page.getByTestId("prune-confirm").click();
    await page.waitForFunction(() => true);
    assert.match(asked, new RegExp(`Remove ${expected.deployments} finished deployments`));
    assert.match(asked, /copied to the archive file first/);
    assert.equal(await page.getByTestId("history-row").count(), before);
    page.once("dialog", (d) => d.accept());
    await page.getByTestId("prune-confirm").click();
    await page.getByTestId("prune-result").waitFor();
    assert.match(await page.getByTestId("prune-result").textContent(), /The history went from 48(\.0)? MiB to 31(\.0)? MiB/);
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="history-row"]').length === n, before - expected.deployments);
    assert.deepEqual(await unnamedControls(page), []);
  });

  it("filters by store, controller, version, state and origin", async () => {
    const page = await h.open({ hash: "#/history" });
    await page.getByTestId("history-row").first().waitFor();
    // Scales are the only targets of the observed deployment; store-012 was not in the cancelled one.
    await page.getByTestId("history-filter-store").fill("store-012");
    await shows(page, ["dep-20261127-0712", "ext-7f3e2a", "dep-20261120-0930"]);
    await page.getByTestId("history-filter-controller").fill("pos-01");
    await shows(page, ["dep-20261127-0712", "dep-20261120-0930"]);
    await page.getByTestId("history-filter-store").fill("store-001");
    await page.getByTestId("history-filter-controller").fill("scale-04");
    await shows(page, ["dep-20261127-0712", "ext-7f3e2a", "dep-20261120-0930", "dep-20261113-1544"]);
    await page.getByTestId("history-clear").click();

    await page.getByTestId("history-filter-version").fill("2.4.0");
    await shows(page, ["dep-20261113-1544"]);
    await page.getByTestId("history-filter-version").fill("");
    await page.getByTestId("history-filter-state").selectOption("cancelled");
    await shows(page, ["dep-20261113-1544"]);
    await page.getByTestId("history-filter-state").selectOption("running");
    await shows(page, ["dep-20261127-0712"]);
    await page.getByTestId("history-filter-state").selectOption("");
    await page.getByTestId("history-filter-origin").selectOption("observed");
    await shows(page, ["ext-7f3e2a"]);
    await page.getByTestId("history-filter-origin").selectOption("local");
    await shows(page, ["dep-20261127-0712", "dep-20261120-0930", "dep-20261113-1544"]);
    assert.equal(await page.getByTestId("history-total").getAttribute("data-total"), "3");
    assert.deepEqual(await unnamedControls(page), []);
  });

  it("filters by date range, and refuses one that ends before it starts", async () => {
    const page = await h.open({ hash: "#/history" });
    await page.getByTestId("history-row").first().waitFor();
    // Started 5 minutes, 2, 7 and 14 days ago.
    await page.getByTestId("history-filter-from").fill(await day(page, -3));
    await shows(page, ["dep-20261127-0712", "ext-7f3e2a"]);
    await page.getByTestId("history-filter-from").fill(await day(page, -10));
    await page.getByTestId("history-filter-to").fill(await day(page, -5));
    await shows(page, ["dep-20261120-0930"]);
    await page.getByTestId("history-filter-from").fill(await day(page, -1));
    await page.getByTestId("error-banner").waitFor();
    assert.equal(await page.getByTestId("error-banner").getAttribute("data-code"), "invalid_input");
    assert.match(await page.getByTestId("error-banner").textContent(), /the time range ends before it starts/);
    await page.getByTestId("history-filter-to").fill("");
    await page.getByTestId("error-banner").waitFor({ state: "detached" });
    await shows(page, ["dep-20261127-0712"]);
  });

  it("pages through many deployments", async () => {
    const page = await h.open({ hash: "#/history", scenario: { deployments: 120 } });
    await page.getByTestId("history-row").first().waitFor();
    assert.equal(await page.getByTestId("history-total").getAttribute("data-total"), "124");
    assert.equal(await page.getByTestId("history-row").count(), 50);
    await page.getByTestId("history-more").click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="history-row"]').length === 100);
    await page.getByTestId("history-more").click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="history-row"]').length === 124);
    assert.equal(await page.getByTestId("history-more").count(), 0);
    const ids = await rowIds(page);
    assert.equal(new Set(ids).size, 124, "no deployment twice");
    assert.deepEqual(ids.slice(-4), ["dep-20261127-0712", "ext-7f3e2a", "dep-20261120-0930", "dep-20261113-1544"]);
    // A filter starts again from its first page.
    await page.getByTestId("history-filter-state").selectOption("cancelled");
    await shows(page, ["dep-20261113-1544"]);
  });

  it("has an empty state that says what to do", async () => {
    const page = await h.open({ hash: "#/history", scenario: { world: "empty" } });
    assert.match(await page.getByTestId("empty-state").textContent(), /Start one from New deployment/);
  });

  it("shows a boundary error by its code", async () => {
    const page = await h.open({ hash: "#/history", scenario: { fail: { history_search: { code: "internal", message: "database disk image is malformed" } } } });
    assert.equal(await page.getByTestId("error-banner").getAttribute("data-code"), "internal");
  });
});
