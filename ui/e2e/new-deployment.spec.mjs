import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { harness, screenshot, unnamedControls } from "./support.mjs";

const visibleStep = (page) =>
  page.evaluate(() => document.querySelector('[data-testid^="wizard-step-"]')?.getAttribute("data-testid"));

describe("new deployment wizard", () => {
  const h = harness({ before, after, afterEach });

  it("goes firmware → targets → options → policy → review → start from the keyboard", async () => {
    const page = await h.open({ hash: "#/new-deployment" });
    await page.getByTestId("wizard-step-firmware").waitFor();
    // The stale file cannot be picked.
    assert.equal(await page.locator('[data-testid="firmware-option"][data-artifact-id="2"]').isDisabled(), true);
    assert.deepEqual(await unnamedControls(page), []);

    // Enter without a choice stays and says why.
    await page.locator('[data-testid="firmware-option"][data-artifact-id="3"]').focus();
    await page.keyboard.press("Enter");
    assert.equal(await visibleStep(page), "wizard-step-firmware");
    await page.getByText("Pick the firmware to roll out.").waitFor();
    await page.keyboard.press("Space");
    await page.keyboard.press("Enter");
    await page.getByTestId("wizard-step-targets").waitFor();

    // Escape goes back, Enter comes again.
    await page.keyboard.press("Escape");
    await page.getByTestId("wizard-step-firmware").waitFor();
    await page.locator('[data-testid="firmware-option"][data-artifact-id="3"]').focus();
    await page.keyboard.press("Enter");
    await page.getByTestId("wizard-step-targets").waitFor();

    await page.getByTestId("targets-search").focus();
    await page.keyboard.press("Enter");
    assert.equal(await visibleStep(page), "wizard-step-targets", "no targets: stays");
    await page.getByTestId("select-all-targets").focus();
    await page.keyboard.press("Space");
    assert.equal(
      await page.locator('[data-testid="wizard-step-targets"] .field-error').count(),
      0,
      "the problem goes as soon as targets are chosen",
    );
    // A store's box toggles its controllers.
    await page.locator('[data-testid="store-checkbox"][data-store-id="store-002"]').focus();
    await page.keyboard.press("Space");
    assert.equal(await page.locator('[data-testid="controller-checkbox"][data-store-id="store-002"]:checked').count(), 0);
    await page.keyboard.press("Space");
    assert.equal(await page.locator('[data-testid="controller-checkbox"][data-store-id="store-002"]:checked').count(), 8);
    await screenshot(page, "new-deployment-targets");
    await page.keyboard.press("Enter");
    await page.getByTestId("wizard-step-options").waitFor();

    await page.getByTestId("ack-timeout").fill("1 minute");
    await page.getByTestId("ack-timeout").press("Enter");
    assert.equal(await visibleStep(page), "wizard-step-options", "bad duration: stays");
    assert.equal(await page.getByTestId("ack-timeout").getAttribute("aria-invalid"), "true");
    await page.getByTestId("ack-timeout").fill("45s");
    await page.getByTestId("ack-timeout").press("Enter");
    await page.getByTestId("wizard-step-policy").waitFor();

    await page.getByTestId("policy-canary").fill("4");
    await page.getByTestId("policy-wave-size").fill("24");
    await page.getByTestId("policy-pause-on-failures").fill("10%");
    await page.getByTestId("policy-max-in-flight-per-store").fill("2");
    await page.getByTestId("policy-advance").selectOption("manual");
    await page.getByTestId("policy-wave-size").press("Enter");
    await page.getByTestId("wizard-step-review").waitFor();
    await page.getByTestId("review-target-count").waitFor();
    assert.equal(await page.getByTestId("review-target-count").textContent(), "96");
    assert.equal(await page.getByTestId("review-store-count").textContent(), "12");
    assert.equal(await page.getByTestId("review-checksum").textContent(), "5d41402abc4b2a76b9719d911017c592");
    assert.match(await page.getByTestId("review-url").textContent(), /store-ctl-2\.5\.0\.bin$/);
    assert.match(await page.getByTestId("review-waves").textContent(), /canary: 4.*wave 2: 24.*wave 5: 20/s);
    await screenshot(page, "new-deployment");

    await page.keyboard.press("Escape");
    await page.getByTestId("wizard-step-policy").waitFor();
    assert.equal(await page.getByTestId("policy-canary").inputValue(), "4", "going back keeps the answers");
    await page.getByTestId("policy-canary").press("Enter");
    await page.getByTestId("review-target-count").waitFor();
    await page.getByTestId("wizard-start").focus();
    await page.keyboard.press("Enter");
    await page.getByTestId("view-deployment").waitFor();
    assert.equal(await page.getByTestId("count-queued").textContent(), "96");
    assert.match(await page.getByTestId("wave-progress").textContent(), /Canary/);
  });

  it("uses an external URL when chosen", async () => {
    const page = await h.open({ hash: "#/new-deployment" });
    await page.locator('[data-testid="firmware-option"][data-artifact-id="3"]').check();
    await page.getByTestId("wizard-next").click();
    await page.locator('[data-testid="controller-checkbox"][data-store-id="store-001"][data-controller-id="pos-01"]').check();
    await page.getByTestId("wizard-next").click();
    await page.getByTestId("serving-external").check();
    await page.getByTestId("external-url").fill("https://cdn.example.com/store-ctl-2.5.0.bin");
    await page.getByTestId("wizard-next").click();
    await page.getByTestId("wizard-next").click();
    await page.getByTestId("review-url").waitFor();
    assert.equal(await page.getByTestId("review-url").textContent(), "https://cdn.example.com/store-ctl-2.5.0.bin");
    assert.equal(await page.getByTestId("review-target-count").textContent(), "1");
  });

  it("sends inside stores' windows: a store without one is refused, or sent at once, and the review plans each store", async () => {
    const page = await h.open({ hash: "#/new-deployment" });
    await page.locator('[data-testid="firmware-option"][data-artifact-id="3"]').check();
    await page.getByTestId("wizard-next").click();
    await page.locator('[data-testid="controller-checkbox"][data-store-id="store-001"][data-controller-id="pos-01"]').check();
    await page.getByTestId("wizard-next").click();
    await page.getByTestId("wizard-next").click();
    await page.getByTestId("schedule-in-windows").check();
    await page.getByTestId("wizard-next").click();
    const banner = page.getByTestId("error-banner");
    await banner.waitFor();
    assert.equal(await banner.getAttribute("data-code"), "invalid_input");
    assert.match(await banner.textContent(), /no maintenance window for store-001/);
    await page.getByTestId("wizard-back").click();
    await page.getByTestId("schedule-send-unwindowed").check();
    await page.getByTestId("wizard-next").click();
    await page.getByTestId("review-stores").waitFor();
    assert.match(await page.getByTestId("review-schedule").textContent(), /stores without one are sent at once/);
    assert.match(await page.getByTestId("review-stores").textContent(), /now \(no window set: sent at once\)/);
  });

  it("skips controllers already on the version: the review says how many, and only current ones are refused", async () => {
    const page = await h.open({ hash: "#/new-deployment" });
    // Counted here from the fleet list, as the core counts: firmware_version is the version.
    const fleet = await page.evaluate(() => window.__mock.handle("fleet_list"));
    const current = fleet.filter((c) => c.firmware_version === "2.5.0");
    assert.ok(current.length > 0 && current.length < fleet.length, `${current.length} of ${fleet.length} on 2.5.0`);

    await page.locator('[data-testid="firmware-option"][data-artifact-id="3"]').check();
    await page.getByTestId("wizard-next").click();
    const skip = page.getByTestId("skip-current");
    assert.match(await page.locator("label", { has: skip }).textContent(), /Skip controllers already on this version \(2\.5\.0\)/);
    await page.getByTestId("select-all-targets").check();
    await skip.check();
    assert.equal(await page.getByTestId("targets-current").textContent(), `${current.length} of the selected already run 2.5.0, by the fleet list`);
    assert.deepEqual(await unnamedControls(page), []);
    for (let i = 0; i < 3; i++) await page.getByTestId("wizard-next").click();
    await page.getByTestId("review-skipped").waitFor();
    assert.equal((await page.getByTestId("review-skipped").textContent()).trim(), `${current.length} controllers already on 2.5.0 are left out`);
    assert.equal(await page.getByTestId("review-target-count").textContent(), String(fleet.length - current.length));
    await screenshot(page, "new-deployment-skip-current");
    await page.getByTestId("wizard-start").click();
    await page.getByTestId("view-deployment").waitFor();
    assert.equal(await page.getByTestId("count-queued").textContent(), String(fleet.length - current.length));
  });

  it("refuses a deployment whose every controller is already on the version, in one line", async () => {
    const page = await h.open({ hash: "#/new-deployment" });
    const fleet = await page.evaluate(() => window.__mock.handle("fleet_list"));
    const one = fleet.find((c) => c.firmware_version === "2.5.0");
    await page.locator('[data-testid="firmware-option"][data-artifact-id="3"]').check();
    await page.getByTestId("wizard-next").click();
    await page.locator(`[data-testid="controller-checkbox"][data-store-id="${one.store_id}"][data-controller-id="${one.controller_id}"]`).check();
    await page.getByTestId("skip-current").check();
    for (let i = 0; i < 3; i++) await page.getByTestId("wizard-next").click();
    const banner = page.getByTestId("error-banner");
    await banner.waitFor();
    assert.equal(await banner.getAttribute("data-code"), "invalid_input");
    assert.equal(await banner.locator(".message").textContent(), "every chosen controller already runs 2.5.0: nothing to send");
    assert.equal(await page.getByTestId("wizard-start").isDisabled(), true);
    // Without the choice the same controller is sent to.
    for (let i = 0; i < 3; i++) await page.getByTestId("wizard-back").click();
    await page.getByTestId("skip-current").uncheck();
    for (let i = 0; i < 3; i++) await page.getByTestId("wizard-next").click();
    await page.getByTestId("review-target-count").waitFor();
    assert.equal(await page.getByTestId("review-target-count").textContent(), "1");
    assert.equal(await page.getByTestId("review-skipped").count(), 0);
  });

  it("shows the core's refusal by its code on review", async () => {
    const page = await h.open({
      hash: "#/new-deployment",
      scenario: { fail: { deployment_review: { code: "invalid_input", message: "3 targets are not in the fleet" } } },
    });
    await page.locator('[data-testid="firmware-option"][data-artifact-id="3"]').check();
    await page.getByTestId("wizard-next").click();
    await page.getByTestId("select-all-targets").check();
    for (let i = 0; i < 3; i++) await page.getByTestId("wizard-next").click();
    const banner = page.getByTestId("error-banner");
    await banner.waitFor();
    assert.equal(await banner.getAttribute("data-code"), "invalid_input");
    assert.equal(await page.getByTestId("wizard-start").isDisabled(), true);
  });

  it("has an empty state that says what to do", async () => {
    const page = await h.open({ hash: "#/new-deployment", scenario: { world: "empty" } });
    assert.match(await page.getByTestId("empty-state").textContent(), /Add a firmware file first/);
  });
});
