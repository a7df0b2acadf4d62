// A minimal W3C WebDriver client over fetch: enough to drive the real Storefleet window
// through tauri-driver without pulling a browser-automation framework into the repo.
import { execFileSync, spawn } from "node:child_process";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

/** WebDriver key codes. */
export const KEY = { enter: "\uE007", escape: "\uE00C", tab: "\uE004" };

/** Asks the kernel for a free loopback port. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Starts tauri-driver on free ports; resolves once it accepts requests. */
export async function startTauriDriver({ driver = "tauri-driver", nativeDriver = "/usr/bin/WebKitWebDriver" } = {}) {
  const port = await freePort();
  const nativePort = await freePort();
  const child = spawn(driver, ["--port", String(port), "--native-port", String(nativePort), "--native-driver", nativeDriver], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`tauri-driver exited with ${child.exitCode}`);
    try {
      await fetch(`${url}/status`);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error("tauri-driver did not start within 20 s");
      await sleep(100);
    }
  }
  return {
    url,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once("exit", resolve);
      child.kill("SIGTERM");
    }),
  };
}

async function request(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: body ? { "content-type": "application/json" } : undefined,
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    const v = json.value ?? {};
    throw new Error(`WebDriver ${method} ${url}: ${res.status} ${v.error ?? ""} ${v.message ?? ""}`.trim());
  }
  return json.value;
}

export class Session {
  constructor(base, id) {
    this.base = `${base}/session/${id}`;
  }

  /** Opens the app at `application` (an absolute path) in a new window. */
  static async start(driverUrl, application) {
    const value = await request("POST", `${driverUrl}/session`, {
      capabilities: { alwaysMatch: { browserName: "wry", "tauri:options": { application } } },
    });
    return new Session(driverUrl, value.sessionId);
  }

  async find(css) {
    const value = await request("POST", `${this.base}/element`, { using: "css selector", value: css });
    return value[ELEMENT];
  }

  async findAll(css) {
    const value = await request("POST", `${this.base}/elements`, { using: "css selector", value: css });
    return value.map((e) => e[ELEMENT]);
  }

  async click(css) {
    await request("POST", `${this.base}/element/${await this.find(css)}/click`, {});
  }

  /** Types into the element (keys such as Enter: KEY.enter). */
  async type(css, text) {
    await request("POST", `${this.base}/element/${await this.find(css)}/value`, { text });
  }

  async clear(css) {
    await request("POST", `${this.base}/element/${await this.find(css)}/clear`, {});
  }

  async attr(css, name) {
    return request("GET", `${this.base}/element/${await this.find(css)}/attribute/${name}`);
  }

  /** Runs `script` (a function body; `arguments` are `args`) in the page. */
  async exec(script, args = []) {
    return request("POST", `${this.base}/execute/sync`, { script, args });
  }

  /** Sends keys to whatever has the focus (the wizard's Enter and Escape). */
  async keys(text) {
    const actions = [...text].flatMap((value) => [{ type: "keyDown", value }, { type: "keyUp", value }]);
    await request("POST", `${this.base}/actions`, { actions: [{ type: "key", id: "keyboard", actions }] });
    await request("DELETE", `${this.base}/actions`).catch(() => {});
  }

  /** Polls `probe` until it returns a truthy value, which it returns. */
  async until(what, probe, timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs;
    let last;
    for (;;) {
      try {
        last = await probe();
        if (last) return last;
      } catch (err) {
        last = String(err);
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
      await sleep(150);
    }
  }

  async text(css) {
    return request("GET", `${this.base}/element/${await this.find(css)}/text`);
  }

  /** Polls until the element matching `css` has text satisfying `predicate`. */
  async waitForText(css, predicate, timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    for (;;) {
      try {
        last = await this.text(css);
        if (predicate(last)) return last;
      } catch (err) {
        last = String(err);
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting on ${css}; last: ${last}`);
      await sleep(100);
    }
  }

  async title() {
    return request("GET", `${this.base}/title`);
  }

  /**
   * A PNG of the X display, as a Buffer. WebKitWebDriver's own screenshot comes back blank
   * under Xvfb (no GPU compositing), so this reads the display itself (imagemagick).
   */
  async screenshot() {
    // The DOM can be ready before WebKit has painted it (on a busy machine): retry until
    // the capture shows more than the bare window background.
    // Only the app's window, not the rest of the X screen (a black band beside it).
    const rect = await request("GET", `${this.base}/window/rect`).catch(() => null);
    const crop = rect && rect.width > 0 && rect.height > 0
      ? ["-crop", `${rect.width}x${rect.height}+${Math.max(0, rect.x)}+${Math.max(0, rect.y)}`, "+repage"]
      : [];
    for (let i = 0; ; i++) {
      const png = execFileSync("import", ["-window", "root", ...crop, "png:-"], { maxBuffer: 64 << 20 });
      const colours = Number(execFileSync("identify", ["-format", "%k", "png:-"], { input: png }).toString());
      if (colours > 16 || i >= 20) return png;
      await sleep(250);
    }
  }

  async close() {
    await request("DELETE", this.base).catch(() => {});
  }
}
