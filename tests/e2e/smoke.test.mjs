// End-to-end smoke test: the real desktop binary in a real window (Xvfb), driven through
// tauri-driver and WebKitWebDriver. It proves the UI is bundled, IPC works, and the core's
// version reaches the screen.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Session, startTauriDriver } from "./webdriver.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const app = process.env.STOREFLEET_DESKTOP_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(root, "target"), "debug/storefleet-desktop");
const shots = process.env.STOREFLEET_SCREENSHOTS ?? join(root, ".artifacts/screenshots");

function workspaceVersion() {
  const toml = readFileSync(join(root, "Cargo.toml"), "utf8");
  const section = toml.split("[workspace.package]")[1];
  return /^version\s*=\s*"([^"]+)"/m.exec(section)[1];
}

let driver;
let session;

before(async () => {
  // The app (started by tauri-driver, which passes its environment on) keeps its history
  // here instead of the user's data folder.
  process.env.STOREFLEET_DB ??= join(mkdtempSync(join(tmpdir(), "storefleet-e2e-")), "history.sqlite");
  assert.ok(process.env.DISPLAY, "DISPLAY is not set: run under Xvfb (scripts/test.sh does)");
  assert.ok(existsSync(app), `desktop binary not found at ${app}: build it first`);
  driver = await startTauriDriver();
  session = await Session.start(driver.url, app);
});

after(async () => {
  await session?.close();
  await driver?.stop();
});

test("the window shows the product name, the core's version and the demo connection", async () => {
  const version = workspaceVersion();
  const shown = await session.waitForText('[data-testid="core-version"]', (t) => t.includes(version));
  assert.equal(shown, `Core version ${version}`);
  assert.equal(await session.text('[data-testid="product-name"]'), "Storefleet");
  assert.equal(await session.title(), "Storefleet");

  // Demo mode, the embedded default: broker and simulated fleet start with the app, and the
  // app connects to them by itself.
  const status = await session.waitForText('[data-testid="connection-status"]', (t) => /connected/i.test(t), 30_000);
  assert.match(status, /Demo/);

  mkdirSync(shots, { recursive: true });
  const png = await session.screenshot();
  assert.equal(png.subarray(1, 4).toString(), "PNG", "screenshot is a PNG");
  writeFileSync(join(shots, "first-screen.png"), png);
});
