import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { harness, screenshot, unnamedControls } from "./support.mjs";

describe("firmware view", () => {
  const h = harness({ before, after, afterEach });

  it("lists the library with MD5, size, served URL and the stale file flagged", async () => {
    const page = await h.open({ hash: "#/firmware" });
    await page.getByTestId("view-firmware").waitFor();
    assert.equal(await page.getByTestId("firmware-row").count(), 3);
    const stale = page.locator('[data-testid="firmware-row"][data-artifact-id="2"]');
    assert.equal(await stale.getByTestId("firmware-stale").count(), 1);
    assert.equal(await page.getByTestId("firmware-stale").count(), 1);
    assert.match(await page.getByTestId("firmware-served-url").first().textContent(), /^http:\/\/192\.168\.1\.20:8484\/fw\//);
    assert.deepEqual(await unnamedControls(page), []);
    await screenshot(page, "firmware");
  });

  it("flags a file the watcher saw change at once, without a reload", async () => {
    const page = await h.open({ hash: "#/firmware" });
    const row = page.locator('[data-testid="firmware-row"][data-artifact-id="1"]');
    await row.waitFor();
    assert.equal(await row.getByTestId("firmware-stale").count(), 0);
    await page.evaluate(() => window.__mock.markStale(1));
    await row.getByTestId("firmware-stale").waitFor();
    assert.equal(await row.getByRole("button", { name: /^Deploy / }).isDisabled(), true);
  });

  it("shows who can reach the built-in server and keeps its settings, refusing to move it under a deployment", async () => {
    const page = await h.open({ hash: "#/firmware" });
    const reach = page.getByTestId("server-reach");
    await reach.waitFor();
    assert.match(await reach.textContent(), /Reachable from the store network at http:\/\/192\.168\.1\.20:8484/);
    await page.getByTestId("server-edit").click();
    await page.getByTestId("server-port").fill("9000");
    await page.getByTestId("server-save").click();
    await page.locator("text=download from this server").waitFor();
    assert.equal(await reach.getAttribute("data-reach"), "store_network");

    // With nothing downloading, it moves; then off; then loopback only.
    await page.evaluate(() => {
      for (const d of window.__mock.handle("history_list", { query: null })) {
        if (d.state === "running" || d.state === "paused") window.__mock.handle("deployment_cancel", { deploymentId: d.deployment_id });
      }
    });
    await page.getByTestId("server-save").click();
    await page.locator('[data-testid="server-reach"]', { hasText: "http://192.168.1.20:9000" }).waitFor();
    await page.getByTestId("server-edit").click();
    assert.equal(await page.getByTestId("server-port").inputValue(), "9000");
    await page.getByTestId("server-enabled").uncheck();
    await page.getByTestId("server-save").click();
    await page.locator('[data-testid="server-reach"][data-reach="off"]').waitFor();
    await page.getByTestId("server-edit").click();
    await page.getByTestId("server-enabled").check();
    await page.getByTestId("server-bind").fill("store laptop");
    await page.getByTestId("server-save").click();
    await page.locator("text=is not an IP address").waitFor();
    await page.getByTestId("server-bind").fill("127.0.0.1");
    await page.getByTestId("server-save").click();
    await page.locator('[data-testid="server-reach"][data-reach="this_machine"]').waitFor();
    assert.match(await reach.textContent(), /this machine only/);
    assert.deepEqual(await unnamedControls(page), []);
  });

  it("adds a file through the dialog with hashing progress", async () => {
    const page = await h.open({ hash: "#/firmware" });
    await page.getByTestId("firmware-add").click();
    const version = page.getByLabel("Version controllers are told");
    assert.equal(await version.inputValue(), "2.6.0");
    await page.getByRole("button", { name: "Hash and add" }).click();
    const progress = page.getByTestId("firmware-progress");
    await progress.waitFor();
    await page.waitForFunction(() => /\d+% — /.test(document.querySelector('[data-testid="firmware-progress"]')?.textContent ?? ""));
    await page.locator('[data-testid="firmware-row"]', { hasText: "store-ctl-2.6.0-rc1.bin" }).waitFor();
    assert.equal(await progress.count(), 0);
  });

  it("checks an external URL (preflight)", async () => {
    const page = await h.open({ hash: "#/firmware" });
    await page.getByRole("button", { name: "Check an external URL for store-ctl-2.5.0.bin" }).click();
    await page.getByPlaceholder("https://cdn.example.com/fw.bin").fill("https://cdn.example.com/other.bin");
    await page.getByRole("button", { name: "Check URL" }).click();
    assert.match(await page.getByTestId("preflight-result").textContent(), /another MD5/);
    await page.getByPlaceholder("https://cdn.example.com/fw.bin").fill("https://cdn.example.com/store-ctl-2.5.0.bin");
    await page.getByRole("button", { name: "Check URL" }).click();
    await page.getByText("The URL serves the same file").waitFor();
  });

  it("starts the wizard with the firmware picked from the library", async () => {
    const page = await h.open({ hash: "#/firmware" });
    await page.getByRole("button", { name: "Deploy scale-fw-1.8.0.img 1.8.0" }).click();
    await page.getByTestId("wizard-step-firmware").waitFor();
    assert.equal(await page.locator('[data-testid="firmware-option"][data-artifact-id="1"]').isChecked(), true);
    assert.equal(await page.locator('[data-testid="firmware-option"][data-artifact-id="2"]').isDisabled(), true, "stale: deploy disabled");
  });

  it("has an empty state that says what to do", async () => {
    const page = await h.open({ hash: "#/firmware", scenario: { world: "empty" } });
    assert.match(await page.getByTestId("empty-state").textContent(), /Add a firmware file/);
  });

  it("shows a boundary error by its code", async () => {
    const page = await h.open({ hash: "#/firmware", scenario: { fail: { firmware_add: { code: "invalid_input", message: "the file is empty" } } } });
    await page.getByTestId("firmware-add").click();
    await page.getByRole("button", { name: "Hash and add" }).click();
    const banner = page.getByTestId("error-banner");
    await banner.waitFor();
    assert.equal(await banner.getAttribute("data-code"), "invalid_input");
    assert.match(await banner.textContent(), /the file is empty/);
  });
});
