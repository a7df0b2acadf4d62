// 10,000 controllers (500 stores of 20, the mock's "large" world): the Fleet view and the
// wizard's target list render a window of rows, and still scroll, search, select and move
// by keyboard over all of them.
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { harness, unnamedControls } from "./support.mjs";

const LARGE = { world: "large" };
const MAX_ROWS = 80;

/** Rows of a virtual list in the DOM: store headers and controllers. */
const rowsInDom = (page, testid) =>
  page.locator(`[data-testid="${testid}"] [role="rowgroup"] [role="row"], [data-testid="${testid}"] [role="listitem"]`).count();

/** Whether `locator` lies inside its scroller's visible part. */
const onScreen = (locator) =>
  locator.evaluate((el) => {
    const box = el.getBoundingClientRect();
    const view = el.closest(".scroller").getBoundingClientRect();
    return box.top >= view.top - 1 && box.bottom <= view.bottom + 1;
  });

const focused = (page) =>
  page.evaluate(() => {
    const el = document.activeElement;
    return { testid: el?.dataset.testid, store: el?.dataset.storeId, controller: el?.dataset.controllerId };
  });

describe("10,000 controllers", () => {
  const h = harness({ before, after, afterEach });

  it("Fleet renders a window of rows and scrolls to the last controller", async (t) => {
    const page = await h.open({ hash: "#/fleet", scenario: LARGE });
    await page.getByTestId("fleet-list").waitFor();
    assert.equal(await page.getByTestId("fleet-summary").textContent(), "10,000 of 10,000 controllers in 500 stores");
    // 10,000 controllers and 500 store headers, plus the column header row.
    assert.equal(await page.getByTestId("fleet-list").getAttribute("aria-rowcount"), "10501");
    const atTop = await rowsInDom(page, "fleet-list");
    assert.ok(atTop > 5 && atTop < MAX_ROWS, `rendered ${atTop} rows at the top`);
    assert.deepEqual(await unnamedControls(page), []);

    await page.locator('[data-testid="fleet-list"] .scroller').evaluate((el) => (el.scrollTop = el.scrollHeight));
    const last = page.locator('[data-testid="fleet-row"][data-store-id="store-500"][data-controller-id="shelf-13"]');
    await last.waitFor();
    // Controllers sort by id in natural order: shelf-13 is the store's, and the list's, last.
    const lastRow = page.locator('[data-testid="fleet-row"]').last();
    assert.equal(await lastRow.getAttribute("data-store-id"), "store-500");
    assert.equal(await lastRow.getAttribute("aria-rowindex"), "10501");
    assert.ok(await onScreen(lastRow), "the last controller is on screen");
    const atEnd = await rowsInDom(page, "fleet-list");
    assert.ok(atEnd > 5 && atEnd < MAX_ROWS, `rendered ${atEnd} rows at the end`);
    t.diagnostic(`Fleet rows in the DOM at 10,000 controllers: ${atTop} at the top, ${atEnd} at the end`);
  });

  it("Fleet search finds a controller far down", async () => {
    const page = await h.open({ hash: "#/fleet", scenario: LARGE });
    await page.getByTestId("fleet-list").waitFor();
    await page.getByTestId("fleet-search").fill("store-437 door-14");
    await page.getByText("1 of 10,000 controllers in 500 stores").waitFor();
    const rows = page.getByTestId("fleet-row");
    assert.equal(await rows.count(), 1);
    assert.equal(await rows.first().getAttribute("data-store-id"), "store-437");
    assert.equal(await rows.first().getAttribute("data-controller-id"), "door-14");
    assert.equal(await page.getByTestId("fleet-store").count(), 1);
  });

  it("Fleet moves by keyboard through every row, rendered or not", async () => {
    const page = await h.open({ hash: "#/fleet", scenario: LARGE });
    await page.getByTestId("fleet-list").waitFor();
    await page.locator('[data-testid="fleet-store"][data-store-id="store-001"] button').focus();
    await page.keyboard.press("ArrowDown");
    assert.deepEqual(await focused(page), { testid: "fleet-row", store: "store-001", controller: "door-06" });
    await page.keyboard.press("End");
    const end = await focused(page);
    assert.deepEqual(end, { testid: "fleet-row", store: "store-500", controller: "shelf-13" });
    await page.keyboard.press("Enter");
    const selectedRow = page.locator('[data-testid="fleet-row"][data-store-id="store-500"][data-controller-id="shelf-13"]');
    assert.equal(await selectedRow.getAttribute("aria-selected"), "true");
    assert.ok(await onScreen(selectedRow));
    // Up from the store's first controller lands on its header's button.
    for (let i = 0; i < 20; i++) await page.keyboard.press("ArrowUp");
    assert.equal(await page.evaluate(() => document.activeElement?.closest('[data-testid="fleet-store"]')?.dataset.storeId), "store-500");
    await page.keyboard.press("Space");
    assert.equal(await page.locator('[data-testid="fleet-store"][data-store-id="store-500"] button').getAttribute("aria-pressed"), "true");
    await page.keyboard.press("Home");
    assert.equal(await page.evaluate(() => document.activeElement?.closest('[data-testid="fleet-store"]')?.dataset.storeId), "store-001");
    const rows = await rowsInDom(page, "fleet-list");
    assert.ok(rows < MAX_ROWS, `rendered ${rows} rows after moving`);
  });

  it("the wizard's target list renders a window; a store far down selects all its controllers", async (t) => {
    const page = await h.open({ hash: "#/new-deployment", scenario: LARGE });
    await page.locator('[data-testid="firmware-option"][data-artifact-id="3"]').check();
    await page.getByTestId("wizard-next").click();
    await page.getByTestId("targets-list").waitFor();
    const atTop = await rowsInDom(page, "targets-list");
    assert.ok(atTop > 5 && atTop < MAX_ROWS, `rendered ${atTop} rows at the top`);
    assert.deepEqual(await unnamedControls(page), []);

    // Store 250's header is row 249 × 21 (each store: a header and 20 controllers).
    await page.getByTestId("targets-list").evaluate((el) => (el.scrollTop = 249 * 21 * 32));
    const store = page.locator('[data-testid="store-checkbox"][data-store-id="store-250"]');
    await store.check();
    assert.equal(await page.getByTestId("targets-selected").textContent(), "20 selected");
    const shown = page.locator('[data-testid="controller-checkbox"][data-store-id="store-250"]');
    assert.ok((await shown.count()) > 5);
    assert.equal(await page.locator('[data-testid="controller-checkbox"][data-store-id="store-250"]:not(:checked)').count(), 0);
    const inMiddle = await rowsInDom(page, "targets-list");
    assert.ok(inMiddle < MAX_ROWS, `rendered ${inMiddle} rows in the middle`);
    t.diagnostic(`Wizard rows in the DOM at 10,000 controllers: ${atTop} at the top, ${inMiddle} in the middle`);

    // The core is asked for exactly that store's 20 controllers.
    for (let i = 0; i < 3; i++) await page.getByTestId("wizard-next").click();
    await page.getByTestId("review-target-count").waitFor();
    assert.equal(await page.getByTestId("review-target-count").textContent(), "20");
    assert.equal(await page.getByTestId("review-store-count").textContent(), "1");
  });

  it("the wizard searches far down, selects all, and moves by keyboard to the end", async () => {
    const page = await h.open({ hash: "#/new-deployment", scenario: LARGE });
    await page.locator('[data-testid="firmware-option"][data-artifact-id="3"]').check();
    await page.getByTestId("wizard-next").click();
    await page.getByTestId("targets-list").waitFor();

    await page.getByTestId("targets-search").fill("store-437 door-14");
    const found = page.getByTestId("controller-checkbox");
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="controller-checkbox"]').length === 1);
    assert.equal(await found.first().getAttribute("data-store-id"), "store-437");
    await found.first().check();
    assert.equal(await page.getByTestId("targets-selected").textContent(), "1 selected");
    await page.getByTestId("targets-search").fill("");

    await page.getByTestId("select-all-targets").check();
    assert.equal(await page.getByTestId("targets-selected").textContent(), "10000 selected");
    await page.getByTestId("select-all-targets").uncheck();
    assert.equal(await page.getByTestId("targets-selected").textContent(), "0 selected");

    await page.locator('[data-testid="store-checkbox"][data-store-id="store-001"]').focus();
    await page.keyboard.press("End");
    assert.deepEqual(await focused(page), { testid: "controller-checkbox", store: "store-500", controller: "shelf-13" });
    await page.keyboard.press("Space");
    assert.equal(await page.getByTestId("targets-selected").textContent(), "1 selected");
    await page.keyboard.press("PageUp");
    await page.keyboard.press("ArrowDown");
    assert.equal((await focused(page)).testid?.endsWith("checkbox"), true);
    const rows = await rowsInDom(page, "targets-list");
    assert.ok(rows < MAX_ROWS, `rendered ${rows} rows at the end`);
  });
});
