import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { harness, screenshot, unnamedControls } from "./support.mjs";

describe("activity view", () => {
  const h = harness({ before, after, afterEach });

  it("shows recent messages in and out, rejected ones with their reason", async () => {
    const page = await h.open({ hash: "#/activity" });
    await page.getByTestId("activity-row").first().waitFor();
    assert.equal(await page.getByTestId("activity-row").count(), 40);
    assert.ok((await page.locator('[data-testid="activity-row"][data-direction="out"]').count()) > 0);
    await page.getByTestId("activity-filter").selectOption("rejected");
    await page.waitForFunction(() =>
      [...document.querySelectorAll('[data-testid="activity-row"]')].every((r) => r.getAttribute("data-outcome") === "invalid_json"),
    );
    assert.match(await page.getByTestId("activity-row").first().textContent(), /body is not JSON/);
    await page.getByTestId("activity-filter").selectOption("all");
    assert.deepEqual(await unnamedControls(page), []);
    await screenshot(page, "activity");
  });

  it("adds live batches at the top", async () => {
    const page = await h.open({ hash: "#/activity" });
    await page.getByTestId("activity-row").first().waitFor();
    await page.evaluate(() =>
      window.__mock.pushActivity([
        { id: 5000, direction: "in", topic: "stores/store-009/controllers/pos-01/events", body: "{}", at: Date.now(), event_type: "update_firmware_ack", deployment_id: "x", store_id: "store-009", controller_id: "pos-01", outcome: "unknown_deployment", reason: "reply for an unknown deployment" },
      ]),
    );
    await page.waitForFunction(() => document.querySelector('[data-testid="activity-row"]')?.getAttribute("data-outcome") === "unknown_deployment");
    assert.equal(await page.getByTestId("activity-row").count(), 41);
  });

  it("has an empty state that says what to do", async () => {
    const page = await h.open({ hash: "#/activity", scenario: { world: "empty" } });
    assert.match(await page.getByTestId("empty-state").textContent(), /Connect to a broker/);
  });

  it("shows a boundary error by its code", async () => {
    const page = await h.open({ hash: "#/activity", scenario: { fail: { activity_watch: { code: "unavailable", message: "not connected" } } } });
    assert.equal(await page.getByTestId("error-banner").getAttribute("data-code"), "unavailable");
  });
});
