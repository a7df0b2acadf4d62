import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { harness, screenshot, unnamedControls } from "./support.mjs";

const RUNNING = "dep-20261127-0712";

/** The mock fleet's controllers by version, overall and per store, counted here independently. */
async function fleetCounts(page) {
  const fleet = await page.evaluate(() => window.__mock.handle("fleet_list"));
  const overall = {};
  const stores = {};
  for (const c of fleet) {
    const v = c.firmware_version ?? "unknown";
    overall[v] = (overall[v] ?? 0) + 1;
    stores[c.store_id] ??= {};
    stores[c.store_id][v] = (stores[c.store_id][v] ?? 0) + 1;
  }
  return { fleet, overall, stores };
}

const text = async (locator) => (await locator.textContent()).trim();

describe("overview", () => {
  const h = harness({ before, after, afterEach });

  it("is the first screen: broker, history, deployments under way, and every control has a name", async () => {
    const page = await h.open();
    await page.getByTestId("view-overview").waitFor();
    assert.equal(await page.getByTestId("nav-overview").getAttribute("aria-current"), "page");
    assert.equal(await text(page.getByTestId("overview-broker")), "Demo (built-in broker)");
    assert.equal(await text(page.getByTestId("overview-history")), "Demo history (sandbox)");
    assert.equal(await page.getByTestId("overview-connection").getAttribute("data-state"), "connected");
    assert.equal(await text(page.getByTestId("overview-running")), "1");
    assert.equal(await text(page.getByTestId("overview-paused")), "0");
    const live = page.getByTestId("overview-deployment");
    assert.equal(await live.count(), 1);
    assert.equal(await live.getAttribute("data-deployment-id"), RUNNING);
    await page.getByTestId("overview-failure").first().waitFor();
    assert.deepEqual(await unnamedControls(page), []);
    await screenshot(page, "overview");
    // The profiles are one click away.
    await page.getByTestId("nav-connection").click();
    await page.getByTestId("view-connection").waitFor();
    assert.equal(await page.getByTestId("profile-row").count(), 2);
  });

  it("charts the mock fleet's firmware versions, overall and per store", async () => {
    const page = await h.open();
    await page.getByTestId("fw-version").first().waitFor();
    const { fleet, overall, stores } = await fleetCounts(page);
    assert.equal(await text(page.getByTestId("overview-controllers")), String(fleet.length));
    const shown = {};
    for (const li of await page.getByTestId("fw-version").all()) {
      shown[await li.getAttribute("data-version")] = Number(await text(li.getByTestId("fw-version-count")));
    }
    assert.deepEqual(shown, overall);
    assert.ok(Object.keys(shown).length >= 2, "the fixture fleet runs more than one version");
    assert.equal(await page.getByTestId("fw-store").count(), Object.keys(stores).length);
    for (const row of await page.getByTestId("fw-store").all()) {
      const store = await row.getAttribute("data-store-id");
      const segs = {};
      for (const s of await row.getByTestId("fw-segment").all()) segs[await s.getAttribute("data-version")] = Number(await s.getAttribute("data-count"));
      assert.deepEqual(segs, stores[store], `store ${store}`);
    }
  });

  it("links its numbers to the views behind them", async () => {
    const page = await h.open();
    const { fleet, overall } = await fleetCounts(page);

    // A version's count: the Fleet view searching that version.
    await page.locator('[data-testid="fw-version"][data-version="2.4.1"] [data-testid="fw-version-count"]').click();
    await page.getByTestId("view-fleet").waitFor();
    assert.equal(await page.getByTestId("fleet-search").inputValue(), "2.4.1");
    assert.match(await text(page.getByTestId("fleet-summary")), new RegExp(`^${overall["2.4.1"]} of ${fleet.length} controllers`));
    assert.equal(new URL(page.url()).hash, "#/fleet?q=2.4.1");

    // A store's failures: the Fleet view filtered to that store's failed controllers.
    await page.getByTestId("nav-overview").click();
    const trouble = page.locator('[data-testid="trouble-store"]', { has: page.getByTestId("trouble-failed") }).first();
    const store = await trouble.getAttribute("data-store-id");
    const failed = Number(await text(trouble.getByTestId("trouble-failed")));
    await trouble.getByTestId("trouble-failed").click();
    await page.getByTestId("view-fleet").waitFor();
    assert.equal(await page.getByTestId("fleet-search").inputValue(), store);
    assert.equal(await page.getByLabel("Filter by last result").inputValue(), "failed");
    assert.equal(await page.getByTestId("fleet-row").count(), failed);
    assert.equal(failed, fleet.filter((c) => c.store_id === store && c.last_result === "failed").length);
    // The navigation's Fleet is the whole fleet again.
    await page.getByTestId("nav-fleet").click();
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="fleet-row"]').length === n, fleet.length);

    // A running deployment's progress: its deployment view.
    await page.getByTestId("nav-overview").click();
    await page.getByTestId("overview-done").click();
    await page.locator(`[data-testid="view-deployment"][data-deployment-id="${RUNNING}"]`).waitFor();

    // The running count: History; the outbox: Activity.
    await page.getByTestId("nav-overview").click();
    await page.getByTestId("overview-running").click();
    await page.getByTestId("view-history").waitFor();
    await page.getByTestId("nav-overview").click();
    await page.getByTestId("overview-outbox").click();
    await page.getByTestId("view-activity").waitFor();

    // A failure: the deployment it happened in.
    await page.getByTestId("nav-overview").click();
    const failure = page.getByTestId("overview-failure").first();
    const id = await failure.getAttribute("data-deployment-id");
    await failure.getByRole("button").click();
    await page.locator(`[data-testid="view-deployment"][data-deployment-id="${id}"]`).waitFor();
  });

  it("follows deployments under way live, and shows new failures with their errors", async () => {
    const page = await h.open();
    const done = page.getByTestId("overview-done");
    await done.waitFor();
    const before = await text(done);
    // Every acknowledged target fails: the failures list must pick them up.
    for (let i = 0; i < 6; i++) await page.evaluate((id) => window.__mock.advance(id, 20, 1), RUNNING);
    await page.waitForFunction((b) => document.querySelector('[data-testid="overview-done"]').textContent.trim() !== b, before);
    const detail = await page.evaluate((id) => window.__mock.handle("deployment_detail", { deploymentId: id }), RUNNING);
    const terminal = detail.targets.filter((t) => ["completed", "failed", "timed_out", "cancelled"].includes(t.status)).length;
    await page.waitForFunction((want) => document.querySelector('[data-testid="overview-done"]').textContent.trim() === want, `${terminal} / ${detail.targets.length}`);
    // The newest failure is the running deployment's, with the controller's own error.
    const newest = [...detail.targets].filter((t) => t.status === "failed").sort((a, b) => b.updated_at - a.updated_at)[0];
    await page.waitForFunction(
      ([id, store, ctl]) => {
        const first = document.querySelector('[data-testid="overview-failure"]');
        return first?.dataset.deploymentId === id && first.textContent.includes(`${store}/${ctl}`);
      },
      [RUNNING, newest.store_id, newest.controller_id],
    );
    assert.match(await text(page.getByTestId("overview-failure").first()), new RegExp(newest.errors[0].replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
    // Leaving the view stops its feed: more traffic afterwards throws nothing.
    await page.getByTestId("nav-history").click();
    await page.evaluate((id) => window.__mock.advance(id, 20), RUNNING);
    await page.getByTestId("view-history").waitFor();
  });

  it("in demo mode deploys the sample firmware to the demo fleet and lands on the deployment", async () => {
    const page = await h.open();
    const button = page.getByTestId("demo-deploy");
    await button.waitFor();
    assert.equal(await text(button), "Deploy the sample firmware to the demo fleet");
    await button.click();
    const view = page.getByTestId("view-deployment");
    await view.waitFor();
    const id = await view.getAttribute("data-deployment-id");
    assert.notEqual(id, RUNNING);
    assert.equal(await page.getByTestId("count-queued").textContent(), "96");
    assert.match(await page.getByTestId("wave-progress").textContent(), /Canary/);
    // A canary of 8, then three waves, of the sample firmware, to every controller.
    const detail = await page.evaluate((d) => window.__mock.handle("deployment_detail", { deploymentId: d }), id);
    assert.equal(detail.summary.firmware_version, "2.5.0");
    assert.deepEqual(detail.summary.waves.map((w) => w.size), [8, 30, 30, 28]);
    assert.equal(detail.summary.policy.advance, "auto");
    // It is one more deployment under way on the overview.
    await page.getByTestId("nav-overview").click();
    await page.locator(`[data-testid="overview-deployment"][data-deployment-id="${id}"]`).waitFor();
    assert.equal(await text(page.getByTestId("overview-running")), "2");
  });

  it("offers no demo deployment on the real history", async () => {
    const page = await h.open({ scenario: { connection: { profile_id: "p-hq", profile_name: "HQ broker", history: "real", history_path: "/home/store/.local/share/storefleet/history.sqlite" } } });
    await page.getByTestId("fw-version").first().waitFor();
    assert.equal(await text(page.getByTestId("overview-history")), "Real history");
    assert.equal(await page.getByTestId("demo-deploy").count(), 0);
  });

  it("says what to do when there is nothing yet", async () => {
    const page = await h.open({ scenario: { world: "empty" } });
    await page.getByTestId("empty-state").waitFor();
    assert.equal(await text(page.getByTestId("overview-controllers")), "0");
    assert.equal(await text(page.getByTestId("overview-broker")), "No broker");
    assert.match(await text(page.getByTestId("overview-live")), /Nothing is being rolled out/);
    assert.match(await text(page.getByTestId("overview-failures")), /No failures/);
  });

  it("shows the core's error with a retry", async () => {
    const page = await h.open({ scenario: { fail: { fleet_list: { code: "internal", message: "database is locked" } } } });
    const banner = page.getByTestId("error-banner");
    await banner.waitFor();
    assert.equal(await banner.getAttribute("data-code"), "internal");
    assert.match(await banner.textContent(), /database is locked/);
  });
});
