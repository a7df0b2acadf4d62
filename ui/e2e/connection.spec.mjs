import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { FIXED_TIME, focusOutline, harness, screenshot, unnamedControls } from "./support.mjs";

describe("connection view", () => {
  const h = harness({ before, after, afterEach });

  it("lists profiles, shows the status bar, and every control has a name", async () => {
    const page = await h.open({ hash: "#/connection" });
    await page.getByTestId("view-connection").waitFor();
    assert.equal(await page.getByTestId("profile-row").count(), 2);
    const status = page.getByTestId("connection-status");
    assert.equal(await status.getAttribute("data-state"), "connected");
    assert.equal(await page.getByTestId("outbox-waiting").textContent(), "0");
    // What the desktop smoke test (tests/e2e) reads on the first screen.
    assert.equal(await page.getByTestId("product-name").textContent(), "Storefleet");
    assert.equal(await page.getByTestId("core-version").textContent(), "Core version 0.1.0");
    assert.match(await page.getByTestId("demo-status").textContent(), /^\s*96 simulated controllers in 12 stores on the built-in broker/);
    assert.deepEqual(await unnamedControls(page), []);
    const outline = await focusOutline(page, page.getByTestId("nav-fleet"));
    assert.equal(outline.visible, true);
    assert.equal(outline.style, "solid");
    assert.notEqual(outline.width, "0px");
    await screenshot(page, "connection");
  });

  it("adds a profile with TLS and a password, then connects to it", async () => {
    const page = await h.open({ hash: "#/connection" });
    await page.getByTestId("profile-add").click();
    await page.getByTestId("profile-name").fill("Lab broker");
    await page.getByTestId("profile-host").fill("lab.example.com");
    await page.getByTestId("profile-port").fill("8883");
    await page.getByTestId("profile-tls").check();
    await page.getByTestId("profile-ca-file").fill("/etc/lab/ca.pem");
    await page.getByTestId("profile-username").fill("ops");
    await page.getByTestId("profile-password").fill("s3cret");
    await page.getByTestId("profile-save").click();
    const row = page.locator('[data-testid="profile-row"]', { hasText: "Lab broker" });
    await row.waitFor();
    assert.match(await row.textContent(), /TLS.*password in keychain/);
    await row.getByTestId("profile-connect").click();
    await page.locator('[data-testid="connection-status"]', { hasText: "Lab broker" }).waitFor();
    await row.getByTestId("profile-disconnect").waitFor();
  });

  it("says which history it shows: the demo's sandbox, or the real one after connecting elsewhere", async () => {
    const page = await h.open({ hash: "#/connection" });
    const kind = page.getByTestId("history-kind");
    assert.equal((await kind.textContent()).trim(), "Demo history (sandbox)");
    const other = page.locator('[data-testid="profile-row"]').filter({ hasNotText: "Demo" }).first();
    await other.getByTestId("profile-connect").click();
    await page.locator('[data-testid="history-kind"]', { hasText: "Real history" }).waitFor();
  });

  it("keeps a topic prefix per profile and refuses a wildcard in it", async () => {
    const page = await h.open({ hash: "#/connection" });
    await page.getByTestId("profile-add").click();
    await page.getByTestId("profile-name").fill("Shared broker");
    await page.getByTestId("profile-host").fill("shared.example.com");
    await page.getByTestId("profile-topic-prefix").fill("chain-7/#");
    await page.getByTestId("profile-save").click();
    await page.locator("text=topic prefix: it contains a wildcard").waitFor();
    assert.equal(await page.locator('[data-testid="profile-row"]', { hasText: "Shared broker" }).count(), 0);
    await page.getByTestId("profile-topic-prefix").fill("chain-7/site");
    await page.getByTestId("profile-save").click();
    const row = page.locator('[data-testid="profile-row"]', { hasText: "Shared broker" });
    await row.waitFor();
    assert.match(await row.textContent(), /topics under chain-7\/site\//);
    // Editing shows the prefix kept.
    await row.getByTestId("profile-edit").click();
    assert.equal(await page.getByTestId("profile-topic-prefix").inputValue(), "chain-7/site");
  });

  it("refuses a bad port before saving", async () => {
    const page = await h.open({ hash: "#/connection" });
    await page.getByTestId("profile-add").click();
    await page.getByTestId("profile-name").fill("x");
    await page.getByTestId("profile-host").fill("h");
    await page.getByTestId("profile-port").fill("70000");
    assert.equal(await page.getByTestId("profile-save").isDisabled(), true);
  });

  it("shows reconnecting with a countdown and the outbox waiting", async () => {
    const page = await h.open({
      hash: "#/connection",
      scenario: { connection: { state: "reconnecting", next_attempt_at: FIXED_TIME + 8000, attempt: 3, outbox_waiting: 12, last_error: "connection refused" } },
    });
    const status = page.getByTestId("connection-status");
    await page.waitForFunction(() => document.querySelector('[data-testid="connection-status"]')?.getAttribute("data-state") === "reconnecting");
    assert.match(await status.textContent(), /Reconnecting in 8 s \(attempt 3\)/);
    assert.equal(await page.getByTestId("outbox-waiting").textContent(), "12");
    await page.evaluate(() => window.__mock.setConnection({ state: "disconnected", next_attempt_at: null, outbox_waiting: 3 }));
    await page.waitForFunction(() => document.querySelector('[data-testid="outbox-waiting"]')?.textContent === "3");
    assert.equal(await status.getAttribute("data-state"), "disconnected");
    assert.match(await status.textContent(), /Offline.*3 commands waiting in the outbox/s);
    await screenshot(page, "connection-offline");
  });

  it("shows a refused login on the profile and retries only when asked", async () => {
    const refusal = "the broker refused the connection: not authorized";
    const page = await h.open({ hash: "#/connection", scenario: { connection: { profile_id: "p-hq", profile_name: "HQ broker", state: "refused", outbox_waiting: 0, last_error: refusal } } });
    const status = page.getByTestId("connection-status");
    await page.waitForFunction(() => document.querySelector('[data-testid="connection-status"]')?.getAttribute("data-state") === "refused");
    assert.match(await status.textContent(), /login refused; not retrying/);
    assert.match(await status.textContent(), /not authorized/);
    assert.doesNotMatch(await status.textContent(), /Reconnecting/);
    const row = page.locator('[data-testid="profile-row"][data-profile-id="p-hq"]');
    assert.equal(await row.getByTestId("profile-state").textContent(), "login refused");
    await row.getByTestId("profile-retry").click();
    await page.waitForFunction(() => document.querySelector('[data-testid="connection-status"]')?.getAttribute("data-state") === "connected");
    assert.equal(await page.getByTestId("profile-retry").count(), 0);
  });

  it("connects again once the refused profile is saved", async () => {
    const page = await h.open({ hash: "#/connection", scenario: { connection: { profile_id: "p-hq", profile_name: "HQ broker", state: "refused", last_error: "the broker refused the connection: not authorized" } } });
    await page.waitForFunction(() => document.querySelector('[data-testid="connection-status"]')?.getAttribute("data-state") === "refused");
    const row = page.locator('[data-testid="profile-row"][data-profile-id="p-hq"]');
    await row.getByRole("button", { name: "Edit HQ broker" }).click();
    await page.getByTestId("profile-password").fill("the-right-one");
    await page.getByTestId("profile-save").click();
    await page.waitForFunction(() => document.querySelector('[data-testid="connection-status"]')?.getAttribute("data-state") === "connected");
  });

  it("has an empty state that says what to do", async () => {
    const page = await h.open({ hash: "#/connection", scenario: { world: "empty" } });
    const empty = page.getByTestId("empty-state");
    await empty.waitFor();
    assert.match(await empty.textContent(), /Add the MQTT broker/);
  });

  it("shows a boundary error by its code", async () => {
    const page = await h.open({ hash: "#/connection", scenario: { fail: { profiles_list: { code: "unavailable", message: "the keychain is locked" } } } });
    const banner = page.getByTestId("error-banner");
    await banner.waitFor();
    assert.equal(await banner.getAttribute("data-code"), "unavailable");
    assert.match(await banner.textContent(), /Not available right now.*the keychain is locked/s);
  });

  it("shows app-wide notices", async () => {
    const page = await h.open({ hash: "#/connection" });
    await page.getByTestId("view-connection").waitFor();
    await page.waitForTimeout(100);
    await page.evaluate(() => window.__mock.notice("error", "history write failed: disk full"));
    await page.locator('[data-testid="notice"]', { hasText: "disk full" }).waitFor();
  });
});
