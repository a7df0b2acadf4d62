import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { harness, screenshot, unnamedControls } from "./support.mjs";

const ID = "dep-20261127-0712";
const counts = (page) =>
  page.evaluate(() =>
    Object.fromEntries(
      [...document.querySelectorAll('[data-testid^="count-"]')].map((e) => [e.getAttribute("data-testid").slice(6), Number(e.textContent)]),
    ),
  );
const sum = (c) => Object.values(c).reduce((a, b) => a + b, 0);

describe("deployment view", () => {
  const h = harness({ before, after, afterEach });

  it("shows counts, progress, timeline, waves and failures with their errors", async () => {
    const page = await h.open({ hash: `#/deployment/${ID}` });
    await page.getByTestId("targets-table").waitFor();
    assert.equal(await page.getByTestId("view-deployment").getAttribute("data-deployment-id"), ID);
    assert.equal(await page.getByTestId("deployment-state").textContent(), "Running");
    const c = await counts(page);
    assert.equal(sum(c), 96);
    assert.ok(c.failed > 0);
    await page.getByTestId("progress-bar").waitFor();
    await page.getByTestId("timeline-chart").waitFor();
    assert.match(await page.getByTestId("wave-progress").textContent(), /Canary.*Wave 2/s);
    const failed = page.locator('[data-testid="target-row"][data-status="failed"]').first();
    assert.match(await failed.getByTestId("target-errors").textContent(), /\w/);
    assert.deepEqual(await unnamedControls(page), []);
    await screenshot(page, "deployment");
  });

  it("applies live batches", async () => {
    const page = await h.open({ hash: `#/deployment/${ID}` });
    await page.getByTestId("targets-table").waitFor();
    const before = await counts(page);
    const moved = await page.evaluate((id) => window.__mock.advance(id, 40, 0.5), ID);
    assert.equal(moved, 40);
    await page.waitForFunction(
      (b) => Number(document.querySelector('[data-testid="count-queued"]').textContent) < b,
      before.queued,
    );
    const afterCounts = await counts(page);
    assert.equal(sum(afterCounts), 96, "a target is counted exactly once");
    assert.notDeepEqual(afterCounts, before);
    // The table shows the same statuses as the counts.
    const shown = await page.locator('[data-testid="target-row"][data-status="queued"]').count();
    assert.ok(shown <= afterCounts.queued);
  });

  it("filters to failures and shows a target's full error list", async () => {
    const page = await h.open({ hash: `#/deployment/${ID}` });
    await page.getByRole("button", { name: "Show only failures" }).click();
    const rows = page.getByTestId("target-row");
    await page.waitForFunction(() =>
      [...document.querySelectorAll('[data-testid="target-row"]')].every((r) => ["failed", "timed_out"].includes(r.getAttribute("data-status"))),
    );
    await rows.first().click();
    await page.getByRole("complementary", { name: "Selected target" }).waitFor();
  });

  it("pauses, resumes, retries failed, exports and cancels", async () => {
    const page = await h.open({ hash: `#/deployment/${ID}` });
    page.on("dialog", (d) => d.accept());
    await page.getByTestId("deployment-pause").click();
    await page.waitForFunction(() => document.querySelector('[data-testid="deployment-state"]').textContent === "Paused");
    await page.getByTestId("deployment-resume").click();
    await page.waitForFunction(() => document.querySelector('[data-testid="deployment-state"]').textContent === "Running");
    await page.getByTestId("deployment-retry").click();
    await page.waitForFunction(() => document.querySelector('[data-testid="count-failed"]').textContent === "0");
    await page.getByTestId("deployment-export-csv").click();
    await page.getByText(`Exported to /home/ops/exports/${ID}.csv.`).waitFor();
    await page.getByTestId("deployment-cancel").click();
    await page.waitForFunction(() => document.querySelector('[data-testid="deployment-state"]').textContent === "Cancelled");
    assert.equal(await page.getByTestId("count-queued").textContent(), "0");
    assert.equal(await page.getByTestId("deployment-cancel").isDisabled(), true);
  });

  it("exports CSV, the message log and the HTML report, each to the file chosen", async () => {
    const page = await h.open({ hash: `#/deployment/${ID}` });
    await page.getByTestId("targets-table").waitFor();
    const group = page.getByRole("group", { name: "Export" });
    for (const [format, name, file] of [
      ["csv", "Export CSV…", `${ID}.csv`],
      ["jsonl", "Export message log…", `${ID}-messages.jsonl`],
      ["html", "Export report…", `${ID}-report.html`],
    ]) {
      await group.getByRole("button", { name }).click();
      await page.getByText(`Exported to /home/ops/exports/${file}.`).waitFor();
      const last = await page.evaluate(() => window.__mock.exported.at(-1));
      assert.deepEqual(last, { deploymentId: ID, format, path: `/home/ops/exports/${file}` });
    }
    assert.equal(await page.evaluate(() => window.__mock.exported.length), 3);
  });

  it("shows a failed export by its code and keeps the view", async () => {
    const page = await h.open({
      hash: `#/deployment/${ID}`,
      scenario: { fail: { deployment_export: { code: "internal", message: "cannot write /home/ops/exports/x.html: No space left on device" } } },
    });
    await page.getByTestId("deployment-export-html").click();
    const banner = page.getByTestId("error-banner");
    await banner.waitFor();
    assert.equal(await banner.getAttribute("data-code"), "internal");
    assert.match(await banner.textContent(), /No space left on device/);
    assert.equal(await page.getByTestId("deployment-message").count(), 0);
    await page.getByTestId("targets-table").waitFor();
  });

  it("keeps only visible rows in the DOM at 10,000 targets", async () => {
    const page = await h.open({
      hash: "#/deployment/big",
      scenario: { largeDeployment: { id: "big", targets: 10000 } },
    });
    await page.getByTestId("targets-table").waitFor();
    assert.equal(await page.getByTestId("count-queued").textContent(), "10000");
    const inDom = await page.getByTestId("target-row").count();
    assert.ok(inDom > 5 && inDom < 80, `rendered ${inDom} rows`);
    await page.locator(".scroller").evaluate((el) => (el.scrollTop = el.scrollHeight));
    await page.locator('[data-testid="target-row"][data-store-id="store-1250"][data-controller-id="ctl-08"]').waitFor();
  });

  it("shows a boundary error by its code", async () => {
    const page = await h.open({ hash: "#/deployment/nope" });
    const banner = page.getByTestId("error-banner");
    await banner.waitFor();
    assert.equal(await banner.getAttribute("data-code"), "not_found");
  });

  it("shows a conflict from a control by its code", async () => {
    const page = await h.open({
      hash: `#/deployment/${ID}`,
      scenario: { fail: { deployment_pause: { code: "conflict", message: "the deployment finished meanwhile" } } },
    });
    await page.getByTestId("deployment-pause").click();
    const banner = page.getByTestId("error-banner");
    await banner.waitFor();
    assert.equal(await banner.getAttribute("data-code"), "conflict");
  });

  it("looks right in the dark theme", async () => {
    const page = await h.open({ hash: `#/deployment/${ID}`, colorScheme: "dark" });
    await page.getByTestId("targets-table").waitFor();
    const bg = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    assert.equal(bg, "rgb(17, 20, 24)");
    await screenshot(page, "deployment-dark");
  });
});
