// Installs the mock backend as Tauri's IPC before the app loads (browser tests, screenshots,
// benchmark). Bundled to one script and injected with Playwright's addInitScript; reads its
// scenario from `window.__STOREFLEET_MOCK__` and exposes the backend as `window.__mock`.
import { mockIPC } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import { MockBackend, type MockOptions } from "./backend";
import { demoWorld, emptyWorld } from "./fixtures";

type Scenario = MockOptions & { world?: "demo" | "empty"; largeDeployment?: { id: string; targets: number } };

declare global {
  interface Window {
    __STOREFLEET_MOCK__?: Scenario;
    __mock?: MockBackend & { notice: (level: string, message: string) => Promise<void> };
  }
}

const scenario: Scenario = window.__STOREFLEET_MOCK__ ?? {};
const backend = new MockBackend(scenario.world === "empty" ? emptyWorld() : demoWorld(Date.now()), scenario);
if (scenario.largeDeployment) backend.addLargeDeployment(scenario.largeDeployment.id, scenario.largeDeployment.targets);
mockIPC((cmd, args) => backend.handle(cmd, args as Record<string, unknown>), { shouldMockEvents: true });
window.__mock = Object.assign(backend, {
  notice: (level: string, message: string) => emit("notice", { level, message }),
});
