// End to end in the real window, demo mode: the Overview's one-click demo deployment runs to
// its end, the Overview is screenshot, and the deployment view exports the HTML report (and
// the CSV). The native save dialog cannot be driven through WebDriver, so the app runs with
// STOREFLEET_E2E_SAVE_DIR: "saving" picks the suggested name in that folder, and everything
// after the dialog (handle, command, core export, file) is the real path. The report is then
// opened in headless Chromium (Playwright, as the UI browser tests use it), checked against
// what the window showed, and screenshot. Screenshots: app-overview.png and app-report.png in
// STOREFLEET_SCREENSHOTS (default .artifacts/screenshots/).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { hostname, tmpdir, userInfo } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Session, startTauriDriver } from "./webdriver.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const targetDir = process.env.CARGO_TARGET_DIR ?? join(root, "target");
const app = process.env.STOREFLEET_DESKTOP_BIN ?? join(targetDir, "debug/storefleet-desktop");
const shots = process.env.STOREFLEET_SCREENSHOTS ?? join(root, ".artifacts/screenshots");
const chromiumPath = process.env.STOREFLEET_CHROMIUM ?? "/usr/bin/chromium";
// playwright-core is the UI's dev dependency (ui/node_modules), without a browser download.
const { chromium } = createRequire(join(root, "ui/package.json"))("playwright-core");

let driver;
let session;
let exportsDir;

before(async () => {
  const home = mkdtempSync(join(tmpdir(), "storefleet-e2e-report-"));
  exportsDir = join(home, "exports");
  mkdirSync(exportsDir);
  // The demo's seeded fleet with failures enough to show; flashing quick, so the whole
  // rollout (a canary and three waves) ends within seconds.
  Object.assign(process.env, {
    STOREFLEET_DB: join(home, "history.sqlite"),
    STOREFLEET_DEMO_DIR: join(home, "demo"),
    STOREFLEET_SERVE: "127.0.0.1:0",
    STOREFLEET_DEMO_FAIL_RATE: "0.3",
    STOREFLEET_DEMO_FLASH: "1s..2s",
    STOREFLEET_E2E_SAVE_DIR: exportsDir,
    XDG_CONFIG_HOME: join(home, "config"),
    XDG_DATA_HOME: join(home, "data"),
  });
  assert.ok(process.env.DISPLAY, "DISPLAY is not set: run under Xvfb (scripts/test.sh does)");
  assert.ok(existsSync(app), `desktop binary not found at ${app}: build it first`);
  mkdirSync(shots, { recursive: true });
  driver = await startTauriDriver();
  session = await Session.start(driver.url, app);
});

after(async () => {
  await session?.close();
  await driver?.stop();
});

const sel = (id, attrs = "") => `[data-testid="${id}"]${attrs}`;
const count = async (status) => Number(await session.text(sel(`count-${status}`)));

async function shot(name) {
  // WebKit under Xvfb paints a moment after the DOM changes (shared/RECIPES.md).
  await new Promise((r) => setTimeout(r, 1_000));
  writeFileSync(join(shots, `${name}.png`), await session.screenshot());
}

async function open(view) {
  await session.click(sel(`nav-${view}`));
  await session.until(`view ${view}`, async () => (await session.findAll(sel(`view-${view}`))).length === 1);
}

/** Clicks an export button and returns the path the view says it wrote. */
async function exportAs(format) {
  await session.click(sel(`deployment-export-${format}`));
  const text = await session.until(`the ${format} export`, async () => {
    const shown = await session.findAll(sel("deployment-message"));
    return shown.length === 1 ? session.text(sel("deployment-message")) : null;
  });
  const path = /^Exported to (.+)\.$/.exec(text)?.[1];
  assert.ok(path && path.startsWith(exportsDir), `exported into the test's folder: ${text}`);
  return path;
}

test("the Overview's demo deployment runs to its end and its HTML report tells the same story", async () => {
  await session.until("connected", async () => (await session.attr(sel("connection-status"), "data-state")) === "connected", 30_000);
  await open("overview");
  // The button appears once the demo has started and the window works on its sandbox.
  await session.until("the demo button", async () => {
    const found = await session.findAll(sel("demo-deploy"));
    return found.length === 1 && (await session.attr(sel("demo-deploy"), "disabled")) === null;
  }, 30_000);
  await session.click(sel("demo-deploy"));
  const id = await session.until("the deployment view", () => session.attr(sel("view-deployment"), "data-deployment-id"), 30_000);

  // A wave below its success threshold pauses the rollout; the operator's word goes on.
  await session.until("finished", async () => {
    const state = await session.attr(sel("deployment-state"), "data-state");
    if (state === "paused") await session.click(sel("deployment-resume")).catch(() => {});
    return state === "finished";
  }, 90_000);
  const shown = {
    completed: await count("completed"),
    failed: await count("failed"),
    timed_out: await count("timed_out"),
  };
  assert.equal(shown.completed + shown.failed + shown.timed_out, 24, JSON.stringify(shown));
  assert.ok(shown.completed > 0, "some targets completed");
  // The demo's fleet is seeded: at this rate one controller of the third wave fails, which
  // leaves that wave above the 80% the next one needs, so the rollout goes on by itself.
  assert.ok(shown.failed > 0, "a target failed, so the report has errors to show");

  const reportPath = await exportAs("html");
  assert.equal(reportPath, join(exportsDir, `${id}-report.html`));
  const csvPath = await exportAs("csv");
  assert.equal(readFileSync(csvPath, "utf8").trim().split("\n").length, 25, "a header and 24 targets");

  // The Overview after the deployment: nothing running, the fleet on the new version.
  await open("overview");
  await session.until("nothing running", async () => (await session.text(sel("overview-running"))) === "0", 20_000);
  await session.until("the fleet's versions", async () => (await session.findAll(sel("fw-version"))).length > 0);
  await shot("app-overview");

  // The report as a file: what the window showed, and who ran it from where.
  const html = readFileSync(reportPath, "utf8");
  const field = (start) => {
    const from = html.indexOf(start);
    assert.ok(from >= 0, `${start} in the report`);
    return html.slice(from + start.length, html.indexOf("<", from + start.length));
  };
  assert.equal(field('data-field="deployment-id">'), id);
  assert.equal(field('data-field="state">'), "finished");
  for (const [status, n] of Object.entries(shown)) {
    assert.equal(Number(field(`data-count="${status}"><b>`)), n, `${status} in the report`);
  }
  assert.equal(field('data-field="operator">'), userInfo().username);
  assert.equal(field('data-field="host">'), hostname());
  assert.match(field('data-field="md5">'), /^[0-9a-f]{32}$/);

  // Opened in Chromium: it renders, loads nothing, and runs nothing; then a full-page shot.
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const requests = [];
    page.on("request", (r) => requests.push(r.url()));
    const url = pathToFileURL(reportPath).href;
    await page.goto(url);
    assert.deepEqual(requests, [url], "the report fetches nothing but itself");
    assert.equal(await page.title(), `Deployment ${id}: firmware ${field('data-field="firmware-version">')}`);
    assert.equal(Number(await page.locator('[data-count="completed"] b').textContent()), shown.completed);
    assert.equal(await page.locator("script").count(), 0);
    assert.equal(await page.locator("svg.chart polyline").count(), 3);
    assert.equal(await page.locator('[data-section="waves"] tr[data-wave]').count(), 4, "the canary and three waves");
    const failures = shown.failed + shown.timed_out;
    assert.equal(await page.locator("tr[data-failure]").count(), failures);
    assert.match(await page.locator('tr[data-failure="failed"] ul.errors').first().textContent(), /\w/);
    await page.screenshot({ path: join(shots, "app-report.png"), fullPage: true });
  } finally {
    await browser.close();
  }
});
