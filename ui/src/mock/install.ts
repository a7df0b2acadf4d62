// Installs the mock backend as Tauri's IPC before the app loads (browser tests, screenshots,
// benchmark). Bundled to one script and injected with Playwright's addInitScript; reads its
// scenario from `window.__STOREFLEET_MOCK__` and exposes the backend as `window.__mock`.
import { mockIPC } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import { MockBackend, type MockOptions } from "./backend";
import { demoWorld, emptyWorld, largeWorld, manyMessages, type World } from "./fixtures";

type WorldName = "demo" | "empty" | "large";
type Scenario = MockOptions & {
  world?: WorldName;
  largeDeployment?: { id: string; targets: number };
  /** Replaces the world's message log with this many messages (`manyMessages`). */
  messages?: number;
  /** Adds this many small running deployments (`bulk-0001`…), for paging the history. */
  deployments?: number;
};

const WORLDS: Record<WorldName, (now: number) => World> = { demo: demoWorld, empty: emptyWorld, large: largeWorld };

declare global {
  interface Window {
    __STOREFLEET_MOCK__?: Scenario;
    __mock?: MockBackend & { notice: (level: string, message: string) => Promise<void> };
  }
}

const scenario: Scenario = window.__STOREFLEET_MOCK__ ?? {};
const world = WORLDS[scenario.world ?? "demo"](Date.now());
if (scenario.messages !== undefined) world.messages = manyMessages(scenario.messages, Date.now());
const backend = new MockBackend(world, scenario);
for (let i = 1; i <= (scenario.deployments ?? 0); i++) backend.addLargeDeployment(`bulk-${String(i).padStart(4, "0")}`, 8);
if (scenario.largeDeployment) backend.addLargeDeployment(scenario.largeDeployment.id, scenario.largeDeployment.targets);
mockIPC((cmd, args) => backend.handle(cmd, args as Record<string, unknown>), { shouldMockEvents: true });
window.__mock = Object.assign(backend, {
  notice: (level: string, message: string) => emit("notice", { level, message }),
});
