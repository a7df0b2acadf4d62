// Shared harness for the browser tests and the UI benchmark: bundles the mock backend,
// serves the built UI (ui/dist) from a throwaway local server, and opens Debian's Chromium
// with the mock installed before the app's own scripts run.
import { createServer } from "node:http";
import { readFile, mkdir } from "node:fs/promises";
import { existsSync } from "node:fs";
import { extname, join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "rolldown";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const uiRoot = join(here, "..");
export const repoRoot = join(uiRoot, "..");
// Never into docs/screenshots/: a test run must leave the tree clean. The committed pictures
// are refreshed on purpose with scripts/refresh-screenshots.sh.
export const screenshotDir = process.env.STOREFLEET_SCREENSHOTS ?? join(repoRoot, ".artifacts", "screenshots");
const dist = join(uiRoot, "dist");
const mockBundle = join(uiRoot, "e2e", ".build", "mock.js");

const TYPES = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".css": "text/css",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".json": "application/json",
};

/** Bundles src/mock/install.ts into one classic script for addInitScript. */
export async function bundleMock() {
  await mkdir(dirname(mockBundle), { recursive: true });
  await build({
    input: join(uiRoot, "src", "mock", "install.ts"),
    output: { file: mockBundle, format: "iife" },
    logLevel: "silent",
  });
  return mockBundle;
}

/** Serves ui/dist on a free loopback port; resolves to { url, close }. */
export async function serveDist() {
  if (!existsSync(join(dist, "index.html"))) throw new Error("ui/dist is missing: run `npm run build` first");
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const file = join(dist, path === "/" ? "index.html" : path);
    try {
      if (!file.startsWith(dist)) throw new Error("outside dist");
      const body = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((r) => server.close(r)) };
}

export const CHROMIUM = process.env.STOREFLEET_CHROMIUM ?? "/usr/bin/chromium";

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/**
 * A page at `hash` with the mock installed for `scenario`. Any request that leaves the
 * loopback server fails the test: the app must fetch nothing from the internet.
 */
/** The wall clock the browser tests see, so screenshots come out the same every run. */
export const FIXED_TIME = Date.UTC(2026, 10, 27, 9, 30, 0);

/** `hash` empty: the app's first screen (the Overview), as a user opens it. */
export async function openApp(browser, base, { hash = "", scenario = {}, colorScheme = "light", viewport, fixedTime } = {}) {
  const context = await browser.newContext({
    colorScheme,
    viewport: viewport ?? { width: 1280, height: 860 },
    timezoneId: "UTC",
    locale: "en-US",
  });
  const page = await context.newPage();
  // Date.now() stands still (timers keep running): the same pictures on every run.
  if (fixedTime !== undefined) await page.clock.setFixedTime(fixedTime);
  const external = [];
  const errors = [];
  page.on("request", (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith("data:")) external.push(r.url());
  });
  page.on("pageerror", (e) => errors.push(e));
  await page.addInitScript((s) => {
    window.__STOREFLEET_MOCK__ = s;
  }, scenario);
  await page.addInitScript({ path: mockBundle });
  await page.goto(base + hash);
  return { page, context, external, errors };
}

export async function screenshot(page, name) {
  await mkdir(screenshotDir, { recursive: true });
  // Let transitions settle so the picture is stable.
  await page.waitForTimeout(350);
  await page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: false });
}

/** Every button, input and select on the page has an accessible name. */
export async function unnamedControls(page) {
  return page.evaluate(() => {
    const bad = [];
    for (const el of document.querySelectorAll("button, input, select, textarea, [role=button]")) {
      if (el.closest("[hidden]")) continue;
      const labelledBy = el.getAttribute("aria-labelledby");
      const name =
        el.getAttribute("aria-label") ||
        (labelledBy && document.getElementById(labelledBy)?.textContent) ||
        (el.id && document.querySelector(`label[for="${el.id}"]`)?.textContent) ||
        el.closest("label")?.textContent ||
        (el.tagName === "BUTTON" ? el.textContent : "") ||
        el.getAttribute("title") ||
        el.getAttribute("placeholder");
      if (!name || !name.trim()) bad.push(el.outerHTML.slice(0, 120));
    }
    return bad;
  });
}

/** Focuses `locator` with the keyboard's Tab and returns its computed outline. */
export async function focusOutline(page, locator) {
  await locator.focus();
  // :focus-visible needs keyboard modality: press and release a harmless key first.
  await page.keyboard.press("Shift");
  return locator.evaluate((el) => {
    const s = getComputedStyle(el);
    return { style: s.outlineStyle, width: s.outlineWidth, visible: el.matches(":focus-visible") };
  });
}

/**
 * One server and one browser per spec file; `t.open(...)` opens a fresh context and
 * closes it after the test, failing it if the page threw or fetched from elsewhere.
 */
export function harness({ before, after, afterEach }) {
  const state = { srv: null, browser: null, opened: [] };
  before(async () => {
    await bundleMock();
    state.srv = await serveDist();
    state.browser = await launch();
  });
  after(async () => {
    await state.browser?.close();
    await state.srv?.close();
  });
  afterEach(async () => {
    const opened = state.opened.splice(0);
    for (const o of opened) await o.context.close();
    for (const o of opened) {
      if (o.errors.length) throw new Error(`page errors: ${o.errors.map(String).join("; ")}`);
      if (o.external.length) throw new Error(`requests outside the app: ${o.external.join(", ")}`);
    }
  });
  return {
    async open(options) {
      const o = await openApp(state.browser, state.srv.url, { fixedTime: FIXED_TIME, ...options });
      state.opened.push(o);
      return o.page;
    },
  };
}
