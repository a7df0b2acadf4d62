import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { harness, screenshot, unnamedControls } from "./support.mjs";

describe("history view", () => {
  const h = harness({ before, after, afterEach });

  it("lists past deployments newest first, other operators' marked", async () => {
    const page = await h.open({ hash: "#/history" });
    await page.getByTestId("history-row").first().waitFor();
    const ids = await page.getByTestId("history-row").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-deployment-id")));
    assert.deepEqual(ids, ["dep-20261127-0712", "ext-7f3e2a", "dep-20261120-0930", "dep-20261113-1544"]);
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
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="history-row"]').length === 1);
    await page.getByTestId("history-search").fill("no-such-thing");
    await page.getByTestId("empty-state").waitFor();
    assert.match(await page.getByTestId("empty-state").textContent(), /No deployment matches/);
    await page.getByTestId("history-search").fill("");
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

  it("has an empty state that says what to do", async () => {
    const page = await h.open({ hash: "#/history", scenario: { world: "empty" } });
    assert.match(await page.getByTestId("empty-state").textContent(), /Start one from New deployment/);
  });

  it("shows a boundary error by its code", async () => {
    const page = await h.open({ hash: "#/history", scenario: { fail: { history_list: { code: "internal", message: "database disk image is malformed" } } } });
    assert.equal(await page.getByTestId("error-banner").getAttribute("data-code"), "internal");
  });
});
