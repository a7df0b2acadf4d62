import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { harness, screenshot, unnamedControls } from "./support.mjs";

describe("fleet view", () => {
  const h = harness({ before, after, afterEach });

  it("lists stores and controllers with version, last seen and result", async () => {
    const page = await h.open({ hash: "#/fleet" });
    await page.getByTestId("view-fleet").waitFor();
    assert.equal(await page.getByTestId("fleet-store").count(), 12);
    assert.equal(await page.getByTestId("fleet-row").count(), 96);
    const row = page.locator('[data-testid="fleet-row"][data-store-id="store-001"][data-controller-id="pos-01"]');
    assert.match(await row.textContent(), /2\.\d\.\d|unknown/);
    assert.deepEqual(await unnamedControls(page), []);
    await screenshot(page, "fleet");
  });

  it("searches, filters and selects by store or controller", async () => {
    const page = await h.open({ hash: "#/fleet" });
    await page.getByTestId("fleet-search").fill("scale");
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="fleet-row"]').length === 12);
    await page.getByTestId("fleet-search").fill("Lyon scale");
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="fleet-row"]').length === 1);
    await page.getByTestId("fleet-search").fill("");
    await page.getByLabel("Filter by source").selectOption("manual");
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="fleet-store"]').length === 1);
    const store = page.getByTestId("fleet-store").first();
    await store.getByRole("button").first().click();
    assert.equal(await store.getByRole("button").first().getAttribute("aria-pressed"), "true");
    const row = page.getByTestId("fleet-row").first();
    await row.focus();
    await page.keyboard.press("Enter");
    assert.equal(await row.getAttribute("aria-selected"), "true");
  });

  it("sets a store's time zone and maintenance windows, refusing bad ones in one line", async () => {
    const page = await h.open({ hash: "#/fleet" });
    const store = page.locator('[data-testid="fleet-store"][data-store-id="store-001"]');
    await store.getByRole("button").first().click();
    await page.getByTestId("fleet-store-edit-window").click();
    await page.getByTestId("store-timezone").fill("Europe/Paris");
    await page.getByTestId("store-windows").fill("Mon-Fro 22:00-05:00");
    assert.equal(
      await page.getByTestId("store-window-problem").textContent(),
      'invalid window "Mon-Fro 22:00-05:00": unknown day "Fro"',
    );
    assert.equal(await page.getByTestId("store-window-save").isDisabled(), true);
    await page.getByTestId("store-windows").fill("Mon-Fri 22:00-05:00, Sat-Sun 23:00-06:00");
    await page.getByTestId("store-window-save").click();
    await store.getByTestId("fleet-store-window").waitFor();
    assert.match(await store.getByTestId("fleet-store-window").textContent(), /Mon-Fri 22:00-05:00, Sat-Sun 23:00-06:00 \(Europe\/Paris\)/);
    assert.deepEqual(await unnamedControls(page), []);
  });

  it("imports a CSV and adds a controller by hand", async () => {
    const page = await h.open({ hash: "#/fleet", scenario: { pickFile: "/home/ops/fleet.csv" } });
    await page.getByTestId("fleet-import").click();
    await page.getByText("Imported: 2 added, 0 updated.").waitFor();
    await page.locator('[data-testid="fleet-store"][data-store-id="store-013"]').waitFor();
    await page.getByTestId("fleet-add").click();
    await page.getByLabel("Store id").fill("store-099");
    await page.getByLabel("Controller id").fill("pos-01");
    await page.getByRole("button", { name: "Add", exact: true }).click();
    await page.locator('[data-testid="fleet-row"][data-store-id="store-099"]').waitFor();
    // Adding it again is a conflict, shown from the error code.
    await page.getByTestId("fleet-add").click();
    await page.getByLabel("Store id").fill("store-099");
    await page.getByLabel("Controller id").fill("pos-01");
    await page.getByRole("button", { name: "Add", exact: true }).click();
    assert.equal(await page.getByTestId("error-banner").getAttribute("data-code"), "conflict");
  });

  it("removes a controller after a confirmation that says what happens, and a store's controllers at once", async () => {
    const page = await h.open({ hash: "#/fleet" });
    const row = page.locator('[data-testid="fleet-row"][data-store-id="store-001"][data-controller-id="pos-01"]');
    await row.getByTestId("fleet-remove").click();
    const confirm = page.getByTestId("fleet-remove-confirm");
    await confirm.waitFor();
    assert.match(await confirm.textContent(), /Remove store-001\/pos-01 from the inventory\?/);
    const what = (await page.getByTestId("fleet-remove-what").textContent()).replace(/\s+/g, " ");
    assert.match(what, /It leaves the fleet list\. Its deployment history stays: past deployments keep it as a target/);
    assert.match(what, /Heard on the broker again, it comes back, as discovered\./);
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("data-testid")), "fleet-remove-cancel", "the safe choice has the focus");
    assert.equal(await row.getAttribute("aria-selected"), "false", "the button does not select the row");
    assert.deepEqual(await unnamedControls(page), []);
    await screenshot(page, "fleet-remove");

    // Cancel keeps it; Remove takes it out of the list but not out of the deployments.
    await page.getByTestId("fleet-remove-cancel").click();
    assert.equal(await confirm.count(), 0);
    assert.equal(await page.getByTestId("fleet-row").count(), 96);
    await row.getByTestId("fleet-remove").click();
    await page.getByTestId("fleet-remove-yes").click();
    await page.getByText("Removed store-001/pos-01 from the inventory; its deployment history stays.").waitFor();
    assert.equal(await row.count(), 0);
    assert.equal(await page.getByTestId("fleet-row").count(), 95);
    const after = await page.evaluate(async () => {
      const invoke = window.__TAURI_INTERNALS__.invoke;
      const detail = await invoke("deployment_detail", { deploymentId: "dep-20261127-0712" });
      const again = await invoke("fleet_remove", { storeId: "store-001", controllerId: "pos-01" }).then(
        () => null,
        (e) => [e.code, e.message],
      );
      return { kept: detail.targets.some((t) => t.store_id === "store-001" && t.controller_id === "pos-01"), again };
    });
    assert.equal(after.kept, true, "its deployment keeps it as a target");
    assert.deepEqual(after.again, ["not_found", "store-001/pos-01 is not in the inventory"]);

    // A selected store: all its controllers after one confirmation; Escape cancels.
    const store = page.locator('[data-testid="fleet-store"][data-store-id="store-002"]');
    await store.getByRole("button").first().click();
    await page.getByTestId("fleet-store-remove").click();
    assert.match(await confirm.textContent(), /Remove the 8 controllers of store-002 from the inventory\?/);
    assert.match(await page.getByTestId("fleet-remove-what").textContent(), /They leave the fleet list\. Their deployment history stays/);
    await page.keyboard.press("Escape");
    assert.equal(await confirm.count(), 0);
    await page.getByTestId("fleet-store-remove").click();
    await page.getByTestId("fleet-remove-yes").click();
    await page.getByText("Removed the 8 controllers of store-002 from the inventory; their deployment history stays.").waitFor();
    assert.equal(await store.count(), 0);
    assert.equal(await page.getByTestId("fleet-store").count(), 11);
    assert.equal(await page.getByTestId("fleet-row").count(), 87);
    assert.equal(await page.getByTestId("fleet-store-window-bar").count(), 0, "the removed store is no longer selected");
  });

  it("shows a refused removal by its code and keeps the controller", async () => {
    const page = await h.open({
      hash: "#/fleet",
      scenario: { fail: { fleet_remove: { code: "internal", message: "database is locked" } } },
    });
    const row = page.locator('[data-testid="fleet-row"][data-store-id="store-003"][data-controller-id="pos-02"]');
    await row.getByTestId("fleet-remove").click();
    await page.getByTestId("fleet-remove-yes").click();
    const banner = page.getByTestId("error-banner");
    await banner.waitFor();
    assert.equal(await banner.getAttribute("data-code"), "internal");
    assert.match(await banner.textContent(), /database is locked/);
    assert.equal(await row.count(), 1);
  });

  it("refuses a path the window makes up: file commands take dialog handles only", async () => {
    const page = await h.open({ hash: "#/fleet" });
    await page.getByTestId("view-fleet").waitFor();
    const codes = await page.evaluate(async () => {
      const invoke = window.__TAURI_INTERNALS__.invoke;
      const code = (p) => p.then(() => "accepted", (e) => e.code);
      return [
        await code(invoke("fleet_import_csv", { file: "/etc/passwd" })),
        await code(invoke("firmware_add", { file: "/home/ops/fw.bin", version: "1.0.0", onProgress: null })),
        await code(invoke("deployment_export", { deploymentId: "x", format: "csv", file: "/tmp/out.csv" })),
      ];
    });
    assert.deepEqual(codes, ["invalid_input", "invalid_input", "invalid_input"]);
  });

  it("has an empty state that says what to do", async () => {
    const page = await h.open({ hash: "#/fleet", scenario: { world: "empty" } });
    assert.match(await page.getByTestId("empty-state").textContent(), /import a CSV/);
  });

  it("shows a boundary error by its code", async () => {
    const page = await h.open({ hash: "#/fleet", scenario: { fail: { fleet_list: { code: "internal", message: "database is locked" } } } });
    const banner = page.getByTestId("error-banner");
    await banner.waitFor();
    assert.equal(await banner.getAttribute("data-code"), "internal");
  });
});
