// End to end in the real window (Xvfb, tauri-driver, WebKitWebDriver), demo mode: the app's
// own broker and simulated fleet. It starts a deployment through the wizard from the
// keyboard, sees targets complete and a failure's errors, cancels a second deployment,
// finds both in History, and saves a screenshot of every view as app-*.png into
// STOREFLEET_SCREENSHOTS (default .artifacts/screenshots/; scripts/refresh-screenshots.sh
// copies them to docs/screenshots/ for the README).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { KEY, Session, startTauriDriver } from "./webdriver.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const targetDir = process.env.CARGO_TARGET_DIR ?? join(root, "target");
const app = process.env.STOREFLEET_DESKTOP_BIN ?? join(targetDir, "debug/storefleet-desktop");
const shots = process.env.STOREFLEET_SCREENSHOTS ?? join(root, ".artifacts/screenshots");

let driver;
let session;

before(async () => {
  const home = mkdtempSync(join(tmpdir(), "storefleet-e2e-app-"));
  // tauri-driver passes its environment to the app: a history, profiles, logs and demo
  // files of its own; the firmware server on loopback; failures certain enough to show in a
  // dozen targets, and flashing slow enough to watch.
  Object.assign(process.env, {
    STOREFLEET_DB: join(home, "history.sqlite"),
    STOREFLEET_DEMO_DIR: join(home, "demo"),
    STOREFLEET_SERVE: "127.0.0.1:0",
    STOREFLEET_DEMO_FAIL_RATE: "0.5",
    STOREFLEET_DEMO_FLASH: "2s..5s",
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

async function shot(name) {
  // WebKit under Xvfb paints a moment after the DOM changes (shared/RECIPES.md).
  await new Promise((r) => setTimeout(r, 1_000));
  const png = await session.screenshot();
  writeFileSync(join(shots, `app-${name}.png`), png);
}

async function open(view) {
  await session.click(sel(`nav-${view}`));
  await session.until(`view ${view}`, async () => (await session.findAll(sel(`view-${view}`))).length === 1);
}

async function count(status) {
  return Number(await session.text(sel(`count-${status}`)));
}

/** Walks the wizard: the first firmware, the given stores, default options; returns the id. */
async function deploy(storeIds, policy = {}) {
  await open("new-deployment");
  await session.until("firmware options", async () => (await session.findAll(sel("firmware-option"))).length > 0);
  await session.click(sel("firmware-option"));
  await session.keys(KEY.enter); // Enter = next
  await session.until("targets step", async () => (await session.findAll(sel("store-checkbox"))).length > 0);
  for (const store of storeIds) await session.click(sel("store-checkbox", `[data-store-id="${store}"]`));
  await session.click(sel("wizard-next"));
  await session.until("options step", async () => (await session.findAll(sel("wizard-step-options"))).length === 1);
  await session.clear(sel("ack-timeout"));
  await session.type(sel("ack-timeout"), "20s");
  await session.type(sel("ack-timeout"), KEY.enter);
  await session.until("policy step", async () => (await session.findAll(sel("wizard-step-policy"))).length === 1);
  if (policy.canary) await session.type(sel("policy-canary"), String(policy.canary));
  if (policy.advance) {
    await session.exec(
      `const s = document.querySelector('[data-testid="policy-advance"]'); s.value = arguments[0]; s.dispatchEvent(new Event('change', {bubbles: true}));`,
      [policy.advance],
    );
  }
  await session.click(sel("wizard-next"));
  await session.until("review", async () => (await session.findAll(sel("review-target-count"))).length === 1);
  return async function start() {
    await session.click(sel("wizard-start"));
    return session.until("the deployment view", () => session.attr(sel("view-deployment"), "data-deployment-id"), 20_000);
  };
}

test("demo mode: deploy, see completions and a failure, cancel another, find both in History", async () => {
  // Demo mode connects by itself.
  await session.until("connected", async () => (await session.attr(sel("connection-status"), "data-state")) === "connected", 30_000);
  assert.equal(await session.title(), "Storefleet");

  // Connection: the demo profile, and a profile added by hand.
  await open("connection");
  await session.until("the demo profile", async () => (await session.findAll(sel("profile-row", '[data-profile-id="demo"]'))).length === 1);
  await session.click(sel("profile-add"));
  await session.type(sel("profile-name"), "Store 12 broker");
  await session.type(sel("profile-host"), "broker.store12.example");
  await session.click(sel("profile-save"));
  await session.until("the saved profile", async () => (await session.findAll(sel("profile-row"))).length === 2);
  await shot("connection");

  // Fleet: the demo's 24 controllers in 4 stores, from the inventory.
  await open("fleet");
  await session.until("24 controllers", async () => (await session.findAll(sel("fleet-row"))).length === 24);
  const stores = await session.exec(
    `return [...document.querySelectorAll('[data-testid="fleet-store"]')].map(e => e.dataset.storeId)`,
  );
  assert.equal(stores.length, 4);

  // Firmware: the sample file, served by the app itself.
  await open("firmware");
  await session.until("the sample firmware", async () => (await session.findAll(sel("firmware-row"))).length >= 1);
  assert.match(await session.text(sel("firmware-served-url")), /^http:\/\/127\.0\.0\.1:\d+\/fw\//);
  await shot("firmware");

  // New deployment to two stores (12 controllers), through the wizard.
  const startFirst = await deploy(stores.slice(0, 2));
  assert.equal(await session.text(sel("review-target-count")), "12");
  assert.equal(await session.text(sel("review-store-count")), "2");
  assert.match(await session.text(sel("review-checksum")), /^[0-9a-f]{32}$/);
  assert.match(await session.text(sel("review-url")), /^http:\/\/127\.0\.0\.1:\d+\/fw\//);
  await shot("new-deployment-review");
  const first = await startFirst();

  // Live: targets complete, failures show the controller's errors, the deployment finishes.
  await session.until("finished", async () => (await session.attr(sel("deployment-state"), "data-state")) === "finished", 60_000);
  const completed = await count("completed");
  const failed = await count("failed");
  assert.ok(completed > 0, "some targets completed");
  assert.ok(failed > 0, "some targets failed (fail rate 0.5)");
  assert.equal(completed + failed + (await count("timed_out")), 12);
  const errors = await session.exec(
    `return [...document.querySelectorAll('[data-testid="target-row"][data-status="failed"] [data-testid="target-errors"]')].map(e => e.textContent.trim())`,
  );
  assert.ok(errors.length > 0 && errors.every((e) => e.length > 0), `failed rows show their errors: ${JSON.stringify(errors)}`);
  await shot("deployment");

  // A second deployment, one store with a canary and manual advance: cancel it while the
  // rest of the store is still queued.
  await deploy(stores.slice(2, 3), { canary: 1, advance: "manual" });
  const second = await (async () => {
    await session.click(sel("wizard-start"));
    return session.until("the second deployment", async () => {
      const id = await session.attr(sel("view-deployment"), "data-deployment-id");
      return id && id !== first ? id : null;
    }, 20_000);
  })();
  await session.until("cancel enabled", async () => (await session.attr(sel("deployment-cancel"), "disabled")) === null);
  // The view asks "Cancel this deployment?" with window.confirm; WebKit's dialog would wait
  // for a person, so the test answers yes for it.
  await session.exec("window.confirm = () => true;");
  await session.click(sel("deployment-cancel"));
  await session.until("cancelled", async () => (await session.attr(sel("deployment-state"), "data-state")) === "cancelled", 30_000);
  await session.until("queued targets cancelled", async () => (await count("cancelled")) >= 5, 30_000);
  await shot("deployment-cancelled");

  // History: both, ours; the search finds one by its id.
  await open("history");
  await session.until("both deployments", async () => (await session.findAll(sel("history-row"))).length >= 2);
  for (const id of [first, second]) {
    assert.equal(await session.attr(sel("history-row", `[data-deployment-id="${id}"]`), "data-origin"), "local");
  }
  await shot("history");
  await session.type(sel("history-search"), first.slice(0, 8));
  await session.until("one match", async () => {
    const ids = await session.exec(`return [...document.querySelectorAll('[data-testid="history-row"]')].map(e => e.dataset.deploymentId)`);
    return ids.length === 1 && ids[0] === first;
  });
  // The core's search: by state, the cancelled one alone.
  const choose = (testid, value) =>
    session.exec(
      `const el = document.querySelector('[data-testid="${testid}"]');
       el.value = ${JSON.stringify(value)}; el.dispatchEvent(new Event("change", { bubbles: true }));`,
    );
  await session.exec(`document.querySelector('[data-testid="history-clear"]').click()`);
  await choose("history-filter-state", "cancelled");
  await session.until("the cancelled one", async () => {
    const ids = await session.exec(`return [...document.querySelectorAll('[data-testid="history-row"]')].map(e => e.dataset.deploymentId)`);
    return ids.length === 1 && ids[0] === second;
  });

  // Activity: the raw messages in and out.
  await open("activity");
  await session.until("messages", async () => (await session.findAll(sel("activity-row"))).length > 0);
  const directions = await session.exec(
    `return [...new Set([...document.querySelectorAll('[data-testid="activity-row"]')].map(e => e.dataset.direction))]`,
  );
  assert.ok(directions.includes("in"), `inbound messages shown: ${directions}`);
  await shot("activity");
  // Searched in the history: the commands to the first store.
  await choose("activity-filter-event", "update_firmware");
  await session.type(sel("activity-filter-store"), stores[0]);
  await session.until("only the first store's commands", async () => {
    const rows = await session.exec(
      `return [...document.querySelectorAll('[data-testid="activity-row"]')].map(e => [e.dataset.event, e.dataset.store, e.dataset.direction].join(" "))`,
    );
    return rows.length > 0 && rows.every((r) => r === `update_firmware ${stores[0]} out`);
  });

  // Fleet again: the inventory learned from the traffic (last seen, firmware, last result).
  await open("fleet");
  await session.until("controllers of the first store seen on the broker", async () => {
    const seen = await session.exec(
      `return [...document.querySelectorAll('[data-testid="fleet-row"][data-store-id="${stores[0]}"]')]
         .filter((row) => !row.textContent.includes("never")).length`,
    );
    return seen === 6;
  }, 20_000);
  await shot("fleet");
});
