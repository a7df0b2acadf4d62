// An in-page stand-in for the Rust side, answering every command of docs/ipc.md from a
// fixture world. The browser tests, the screenshots and the UI benchmark drive the real UI
// through it; live feeds are pushed by the test (`advance`) or by a timed stream.
import type { ArtifactView } from "../bindings/ArtifactView";
import type { BoundaryError } from "../bindings/BoundaryError";
import type { ConnectionStatus } from "../bindings/ConnectionStatus";
import type { Controller } from "../bindings/Controller";
import type { DeploymentFeed } from "../bindings/DeploymentFeed";
import type { DeploymentFilter } from "../bindings/DeploymentFilter";
import type { DeploymentPage } from "../bindings/DeploymentPage";
import type { DeploymentPageRequest } from "../bindings/DeploymentPageRequest";
import type { HistoryEntry } from "../bindings/HistoryEntry";
import type { MessageFilter } from "../bindings/MessageFilter";
import type { MessagePage } from "../bindings/MessagePage";
import type { MessagePageRequest } from "../bindings/MessagePageRequest";
import type { DeploymentSummary } from "../bindings/DeploymentSummary";
import type { ErrorCode } from "../bindings/ErrorCode";
import type { MessageRow } from "../bindings/MessageRow";
import type { NewDeployment } from "../bindings/NewDeployment";
import type { ProfileInput } from "../bindings/ProfileInput";
import type { TargetRow } from "../bindings/TargetRow";
import type { TargetStatus } from "../bindings/TargetStatus";
import type { Transition } from "../bindings/Transition";
import type { RolloutPolicy } from "../bindings/RolloutPolicy";
import type { ServerSettings } from "../bindings/ServerSettings";
import type { ServerStatus } from "../bindings/ServerStatus";
import type { StorePlan } from "../bindings/StorePlan";
import type { StoreWindow } from "../bindings/StoreWindow";
import type { StoreSettings } from "../bindings/StoreSettings";
import type { StoreWait } from "../bindings/StoreWait";
import { planWaves } from "../lib/policy";
import { windowsProblem, zoneProblem } from "../lib/windows";
import { emptyCounts, isTerminal } from "../lib/status";
import { DEFAULT_POLICY, FAILURE_ERRORS, rng, summaryOf, type World } from "./fixtures";

/** What a Tauri Channel looks like from the mock's side. */
type Sink<T> = { onmessage: (message: T) => void };

export type MockOptions = {
  /** Commands that fail, with the boundary error they reject with. */
  fail?: Record<string, { code: ErrorCode; message: string }>;
  /** What the native file dialog "picks" (a path; the window sees only its handle). */
  pickFile?: string | null;
  connection?: Partial<ConnectionStatus>;
  /** The message search's scan bound (the core's SCAN_ROWS), smaller to test it. */
  scanRows?: number;
};

const fail = (code: ErrorCode, message: string): BoundaryError => ({ code, message });

/** history::search's page bound and scan bound. */
const MAX_PAGE = 500;
const SCAN_ROWS = 200_000;

/** A trimmed, non-blank string, as the core reads a filter field. */
const given = (s: string | null | undefined) => (s && s.trim() ? s.trim() : null);

/** The core's refusals of a search, with its messages. */
function checkSearch(limit: number, from: number | null, to: number | null) {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw fail("invalid_input", `a page holds 1 to ${MAX_PAGE} rows, not ${limit}`);
  if (from !== null && to !== null && from > to) throw fail("invalid_input", "the time range ends before it starts");
}

/** A deployment's live state with counts and wave tallies kept incrementally. */
class LiveDeployment {
  readonly index = new Map<string, number>();
  constructor(
    public summary: DeploymentSummary,
    public targets: TargetRow[],
    public origin: string,
  ) {
    targets.forEach((t, i) => this.index.set(`${t.store_id}/${t.controller_id}`, i));
  }

  /** Moves one target; returns the transition. */
  move(i: number, to: TargetStatus, at: number, errors: string[] = [], attempt?: number): Transition {
    const t = this.targets[i];
    const from = t.status;
    const w = this.summary.waves[t.wave];
    const s = this.summary;
    s.counts[from] -= 1;
    s.counts[to] += 1;
    if (w) {
      if (from === "completed") w.completed -= 1;
      if (from === "failed" || from === "timed_out") w.failed -= 1;
      if (to === "completed") w.completed += 1;
      if (to === "failed" || to === "timed_out") w.failed += 1;
      w.started = true;
    }
    t.status = to;
    t.errors = errors;
    t.updated_at = at;
    if (attempt !== undefined) t.attempt = attempt;
    return {
      deployment_id: s.deployment_id,
      store_id: t.store_id,
      controller_id: t.controller_id,
      attempt: t.attempt,
      from,
      to,
      at,
      errors,
      wave: t.wave,
    };
  }

  refresh() {
    const s = this.summary;
    const c = s.counts;
    const active = c.queued + c.sent + c.acknowledged + c.cancel_requested;
    for (const w of s.waves) w.finished = w.started && w.completed + w.failed >= w.size;
    if (active === 0 && s.state !== "cancelled") {
      s.finished = true;
      s.state = "finished";
    }
    s.current_wave = s.waves.find((w) => w.started && !w.finished)?.index ?? null;
  }
}

export class MockBackend {
  private readonly deployments = new Map<string, LiveDeployment>();
  private readonly watchers = new Map<string, Set<Sink<DeploymentFeed>>>();
  private readonly connectionSinks = new Set<Sink<ConnectionStatus>>();
  private readonly activitySinks = new Set<Sink<{ messages: MessageRow[] }>>();
  private readonly firmwareSinks = new Set<Sink<{ stale: number[] }>>();
  /** The built-in server, as `src-tauri/src/serving.rs` reports it. */
  private server: ServerStatus = {
    settings: { enabled: true, bind_address: "0.0.0.0", port: 8484, advertise: null },
    from_environment: false,
    running: true,
    base_url: "http://192.168.1.20:8484",
    listening: "0.0.0.0:8484",
    reach: "store_network",
    error: null,
  };
  private connection: ConnectionStatus;
  private nextId = 100;
  private readonly random = rng(99);
  private streams: ReturnType<typeof setInterval>[] = [];
  /** What `deployment_export` wrote, for the tests. */
  readonly exported: { deploymentId: string; format: string; path: string }[] = [];
  /** Messages delivered and transitions published, for the benchmark. */
  delivered = 0;
  transitions = 0;

  constructor(
    private readonly world: World,
    private readonly options: MockOptions = {},
  ) {
    for (const [id, d] of world.deployments) this.deployments.set(id, new LiveDeployment(d.summary, d.targets, d.origin));
    this.connection = {
      profile_id: world.profiles[0]?.id ?? null,
      profile_name: world.profiles[0]?.name ?? null,
      broker_url: world.profiles[0] ? `mqtt://${world.profiles[0].host}:${world.profiles[0].port}` : null,
      state: world.profiles.length ? "connected" : "disconnected",
      next_attempt_at: null,
      attempt: null,
      last_error: null,
      outbox_waiting: 0,
      // The demo profile runs on the demo's own history, every other on the real one.
      history: world.profiles[0]?.id === "demo" ? "demo" : "real",
      history_path: world.profiles[0]?.id === "demo" ? "/tmp/storefleet-demo/history.sqlite" : "/home/store/.local/share/storefleet/history.sqlite",
      history_error: null,
      ...options.connection,
    };
  }

  /** Paths "chosen" in the dialog, by handle, as `src-tauri/src/picked.rs` keeps them. */
  private readonly handles = new Map<string, { path: string; purpose: "open" | "save" }>();

  private hold(path: string, purpose: "open" | "save") {
    const handle = Array.from({ length: 32 }, () => "0123456789abcdef"[Math.floor(Math.random() * 16)]).join("");
    this.handles.set(handle, { path, purpose });
    return { handle, name: path.split(/[\\/]/).pop() ?? path, path };
  }

  /** The path behind a handle, refused as the real commands refuse it. */
  private picked(handle: unknown, purpose: "open" | "save"): string {
    const held = this.handles.get(String(handle));
    if (!held) throw fail("invalid_input", "unknown file handle: choose the file in the dialog again");
    if (held.purpose !== purpose) {
      throw fail(
        "invalid_input",
        purpose === "open" ? "that file was chosen to be written, not read" : "that file was chosen to be read, not written",
      );
    }
    return held.path;
  }

  /** Channels deliver deserialised copies, as Tauri's do. */
  private send<T>(sink: Sink<T>, message: T) {
    this.delivered += 1;
    sink.onmessage(JSON.parse(JSON.stringify(message)) as T);
  }

  handle(cmd: string, args: Record<string, unknown> = {}): unknown {
    const failure = this.options.fail?.[cmd];
    if (failure) throw fail(failure.code, failure.message);
    const w = this.world;
    switch (cmd) {
      case "app_info":
        return { product: "Storefleet", core_version: "0.1.0" };
      case "demo_info":
        return {
          broker_url: "mqtt://127.0.0.1:41883",
          stores: 12,
          controllers: 96,
          firmware_version: "2.5.0",
          firmware_path: "/tmp/storefleet-demo/store-ctl-2.5.0.bin",
          fleet_csv: "/tmp/storefleet-demo/fleet.csv",
          history_path: "/tmp/storefleet-demo/history.sqlite",
        };
      case "profiles_list":
        return w.profiles;
      case "profile_save": {
        const p = args.profile as ProfileInput;
        if (!p.host.trim()) throw fail("invalid_input", "the broker host is empty");
        const prefixError = topicPrefixError(p.topic_prefix.trim());
        if (prefixError) throw fail("invalid_input", prefixError);
        const id = p.id ?? `p-${++this.nextId}`;
        const old = w.profiles.find((x) => x.id === id);
        const saved = {
          id,
          name: p.name,
          host: p.host,
          port: p.port,
          tls: p.tls,
          ca_file: p.ca_file,
          client_cert: p.client_cert,
          client_key: p.client_key,
          username: p.username,
          topic_prefix: p.topic_prefix.trim(),
          has_password: p.clear_password ? false : p.password !== null ? true : (old?.has_password ?? false),
          demo: false,
        };
        w.profiles = old ? w.profiles.map((x) => (x.id === id ? saved : x)) : [...w.profiles, saved];
        // As the real one: a refused login is tried again once its profile changes.
        if (this.connection.state === "refused" && this.connection.profile_id === id) {
          this.setConnection({ state: "connected", last_error: null });
        }
        return saved;
      }
      case "profile_remove":
        if (!w.profiles.some((p) => p.id === args.profileId)) throw fail("not_found", `no broker profile ${String(args.profileId)}`);
        w.profiles = w.profiles.filter((p) => p.id !== args.profileId);
        return null;
      case "connect": {
        const p = w.profiles.find((x) => x.id === args.profileId);
        if (!p) throw fail("not_found", `no broker profile ${String(args.profileId)}`);
        this.setConnection({
          profile_id: p.id,
          profile_name: p.name,
          broker_url: `${p.tls ? "mqtts" : "mqtt"}://${p.host}:${p.port}`,
          state: "connected",
          next_attempt_at: null,
          attempt: null,
          last_error: null,
          history: p.id === "demo" ? "demo" : "real",
          history_path: p.id === "demo" ? "/tmp/storefleet-demo/history.sqlite" : "/home/store/.local/share/storefleet/history.sqlite",
        });
        return this.connection;
      }
      case "disconnect":
        this.setConnection({ state: "disconnected", next_attempt_at: null, attempt: null });
        return this.connection;
      case "connection_watch": {
        const sink = args.onEvent as Sink<ConnectionStatus>;
        this.connectionSinks.add(sink);
        this.send(sink, this.connection);
        return null;
      }
      case "pick_file": {
        const path = this.options.pickFile === undefined ? "/home/ops/firmware/store-ctl-2.6.0-rc1.bin" : this.options.pickFile;
        return path === null ? null : this.hold(path, "open");
      }
      case "save_file":
        return this.hold(`/home/ops/exports/${String(args.defaultName)}`, "save");
      case "fleet_list":
        return w.controllers;
      case "fleet_import_csv": {
        this.picked(args.file, "open");
        const added: Controller[] = [1, 2].map((n) => ({
          store_id: "store-013",
          controller_id: `pos-${String(n).padStart(2, "0")}`,
          store_name: "Nantes",
          controller_name: null,
          firmware_version: null,
          last_seen: null,
          last_result: null,
          last_deployment_id: null,
          source: "imported",
        }));
        w.controllers = [...w.controllers, ...added];
        return { added: added.length, updated: 0 };
      }
      case "fleet_add": {
        const storeId = String(args.storeId);
        const controllerId = String(args.controllerId);
        if (storeId.includes("/") || controllerId.includes("/")) throw fail("invalid_input", "ids must not contain '/'");
        if (w.controllers.some((c) => c.store_id === storeId && c.controller_id === controllerId)) {
          throw fail("conflict", `${storeId}/${controllerId} is already in the fleet`);
        }
        const c: Controller = {
          store_id: storeId,
          controller_id: controllerId,
          store_name: (args.storeName as string | null) ?? null,
          controller_name: (args.controllerName as string | null) ?? null,
          firmware_version: null,
          last_seen: null,
          last_result: null,
          last_deployment_id: null,
          source: "manual",
        };
        w.controllers = [...w.controllers, c];
        return c;
      }
      case "fleet_remove": {
        // As `fleet_remove`: the controller leaves the inventory, deployments keep it.
        const storeId = String(args.storeId);
        const controllerId = String(args.controllerId);
        const kept = w.controllers.filter((c) => !(c.store_id === storeId && c.controller_id === controllerId));
        if (kept.length === w.controllers.length) throw fail("not_found", `${storeId}/${controllerId} is not in the inventory`);
        w.controllers = kept;
        return null;
      }
      case "fleet_stores":
        return w.stores ?? [];
      case "fleet_set_timezone": {
        const problem = zoneProblem(String(args.zone));
        if (problem) throw fail("invalid_input", problem);
        return this.setStore(String(args.storeId), { timezone: String(args.zone).trim() });
      }
      case "fleet_set_windows": {
        const problem = windowsProblem(String(args.windows));
        if (problem) throw fail("invalid_input", problem);
        const text = String(args.windows)
          .split(/[,;]/)
          .map((p) => p.trim())
          .filter(Boolean)
          .join(", ");
        return this.setStore(String(args.storeId), { windows: text || null });
      }
      case "firmware_list":
        return w.artifacts;
      case "firmware_add":
        return this.hash(this.picked(args.file, "open"), String(args.version), args.onProgress as Sink<unknown>);
      case "firmware_rehash": {
        const a = w.artifacts.find((x) => x.id === args.artifactId);
        if (!a) throw fail("not_found", `no firmware ${String(args.artifactId)}`);
        return this.hash(a.path, a.version, args.onProgress as Sink<unknown>, a.id);
      }
      case "firmware_remove":
        w.artifacts = w.artifacts.filter((a) => a.id !== args.artifactId);
        return null;
      case "firmware_preflight": {
        const a = w.artifacts.find((x) => x.id === args.artifactId);
        if (!a) throw fail("not_found", `no firmware ${String(args.artifactId)}`);
        const url = String(args.url);
        const ok = url.endsWith(a.name);
        return { url, size: ok ? a.size : 1024, md5: ok ? a.md5 : "d41d8cd98f00b204e9800998ecf8427e", ok, problem: ok ? null : `the URL serves 1.0 KiB with another MD5, not ${a.name}` };
      }
      case "deployment_review":
        return this.review(args.request as NewDeployment);
      case "deployment_start":
        if (this.connection.state === "refused") {
          throw fail("unavailable", `not starting: ${this.connection.last_error ?? "the broker refused the login"}; fix the broker profile and connect again`);
        }
        return this.start(args.request as NewDeployment);
      case "deployment_waits": {
        const d = this.deployments.get(String(args.deploymentId));
        if (!d) throw fail("not_found", `no deployment ${String(args.deploymentId)}`);
        return this.waits(d.summary, d.targets);
      }
      case "deployment_detail": {
        const d = this.deployments.get(String(args.deploymentId));
        if (!d) throw fail("not_found", `no deployment ${String(args.deploymentId)}`);
        return JSON.parse(JSON.stringify({ summary: d.summary, targets: d.targets }));
      }
      case "deployment_watch": {
        const id = String(args.deploymentId);
        if (!this.deployments.has(id)) throw fail("not_found", `no deployment ${id}`);
        let set = this.watchers.get(id);
        if (!set) this.watchers.set(id, (set = new Set()));
        set.add(args.onEvent as Sink<DeploymentFeed>);
        return null;
      }
      case "deployment_cancel":
      case "deployment_retry":
      case "deployment_pause":
      case "deployment_resume":
        return this.control(cmd.slice("deployment_".length), String(args.deploymentId));
      case "deployment_export": {
        const format = String(args.format);
        // Tauri refuses an unknown enum value before the command runs, with a bare string.
        if (!["csv", "jsonl", "html"].includes(format)) {
          throw `invalid args \`format\` for command \`deployment_export\`: unknown variant \`${format}\`, expected one of \`csv\`, \`jsonl\`, \`html\``;
        }
        const path = this.picked(args.file, "save");
        const id = String(args.deploymentId);
        if (!this.deployments.has(id)) throw fail("not_found", `no deployment ${id} in the history`);
        this.exported.push({ deploymentId: id, format, path });
        return null;
      }
      case "history_list": {
        const q = ((args.query as string | null) ?? "").toLowerCase();
        return this.historyRows().filter((r) => !q || [r.deployment_id, r.firmware_version, r.file_url].some((f) => f.toLowerCase().includes(q)));
      }
      case "history_search":
        return this.historySearch(args.filter as DeploymentFilter, args.page as DeploymentPageRequest);
      case "activity_search":
        return this.activitySearch(args.filter as MessageFilter, args.page as MessagePageRequest);
      case "activity_recent":
        return w.messages.slice(0, Number(args.limit ?? 500));
      case "activity_watch":
        this.activitySinks.add(args.onEvent as Sink<{ messages: MessageRow[] }>);
        return null;
      case "history_prune_plan":
        return this.prunePlan(Number(args.before));
      case "history_prune": {
        if (args.archive !== null && args.archive !== undefined) this.picked(args.archive, "save");
        const removed = this.prunePlan(Number(args.before));
        const going = new Set(this.going(removed.before));
        for (const id of going) this.deployments.delete(id);
        w.messages = w.messages.filter((m) => !(m.deployment_id ? going.has(m.deployment_id) : m.at < removed.before));
        return { removed, size_before: 48 * 1024 * 1024, size_after: 31 * 1024 * 1024, vacuum_skipped: null };
      }
      case "firmware_watch":
        this.firmwareSinks.add(args.onEvent as Sink<{ stale: number[] }>);
        return null;
      case "server_status":
        return this.server;
      case "server_configure":
        return this.configureServer(args.settings as ServerSettings);
      default:
        throw fail("internal", `the mock does not know the command ${cmd}`);
    }
  }

  /** Every deployment as `history_list` returns it, newest first. */
  private historyRows(): HistoryEntry[] {
    return [...this.deployments.values()]
      .map((d) => ({
        deployment_id: d.summary.deployment_id,
        firmware_version: d.summary.firmware_version,
        file_url: d.summary.file_url,
        file_size: d.summary.file_size,
        checksum: d.summary.checksum,
        ack_timeout_ms: d.summary.ack_timeout_ms,
        completion_timeout_ms: d.summary.completion_timeout_ms,
        created_at: d.summary.created_at,
        target_count: d.summary.total,
        origin: d.origin,
        finished_at: d.summary.finished ? d.summary.created_at + 600_000 : null,
        counts: { ...d.summary.counts },
        state: d.summary.state,
        paused_reason: d.summary.paused_reason,
        policy: d.summary.policy,
        // As the core: a deployment of this history's belongs to the broker it was made
        // for (here the demo's); one from before brokers were recorded has none.
        broker: d.summary.deployment_id === "dep-20261113-1544" ? null : "demo",
        topic_prefix: "",
      }))
      .sort((a, b) => b.created_at - a.created_at || a.deployment_id.localeCompare(b.deployment_id));
  }

  /** As `History::search_deployments`: the same filters, refusals and offset pages. */
  private historySearch(filter: DeploymentFilter, page: DeploymentPageRequest): DeploymentPage {
    checkSearch(page.limit, filter.from, filter.to);
    const text = given(filter.text)?.toLowerCase();
    const store = given(filter.store_id);
    const controller = given(filter.controller_id);
    const version = given(filter.firmware_version);
    const rows = this.historyRows().filter((r) => {
      if (text && ![r.deployment_id, r.firmware_version, r.file_url].some((f) => f.toLowerCase().includes(text))) return false;
      if (version && r.firmware_version !== version) return false;
      if (filter.state && r.state !== filter.state) return false;
      if (filter.origin && r.origin !== filter.origin) return false;
      if (filter.from !== null && r.created_at < filter.from) return false;
      if (filter.to !== null && r.created_at > filter.to) return false;
      if (store || controller) {
        const targets = this.deployments.get(r.deployment_id)?.targets ?? [];
        if (!targets.some((t) => (!store || t.store_id === store) && (!controller || t.controller_id === controller))) return false;
      }
      return true;
    });
    return { rows: rows.slice(page.offset, page.offset + page.limit), total: rows.length };
  }

  /**
   * As `History::search_messages`: the same filters and keyset pages, and the same scan
   * bound for a search by neither store nor deployment (`scanRows`, SCAN_ROWS in the core).
   */
  private activitySearch(filter: MessageFilter, page: MessagePageRequest): MessagePage {
    checkSearch(page.limit, filter.from, filter.to);
    const text = given(filter.text)?.toLowerCase();
    const store = given(filter.store_id);
    const controller = given(filter.controller_id);
    const version = given(filter.firmware_version);
    const event = given(filter.event_type);
    const outcomes = new Set((filter.outcomes ?? []).map((o) => o.trim()).filter(Boolean));
    const byDeployment = Boolean(version || filter.state || filter.origin);
    const deployments = new Map(this.historyRows().map((r) => [r.deployment_id, r]));
    const matches = (m: MessageRow) => {
      const d = m.deployment_id ? deployments.get(m.deployment_id) : undefined;
      if (byDeployment) {
        if (!d) return false;
        if (version && d.firmware_version !== version) return false;
        if (filter.state && d.state !== filter.state) return false;
        if (filter.origin && d.origin !== filter.origin) return false;
      }
      if (store && m.store_id !== store) return false;
      if (controller && m.controller_id !== controller) return false;
      if (event && m.event_type !== event) return false;
      if (outcomes.size && !outcomes.has(m.outcome)) return false;
      if (filter.from !== null && m.at < filter.from) return false;
      if (filter.to !== null && m.at > filter.to) return false;
      if (text) {
        const inDeployment = d && [d.deployment_id, d.firmware_version, d.file_url].some((f) => f.toLowerCase().includes(text));
        if (!inDeployment && !m.topic.toLowerCase().includes(text) && !(m.reason ?? "").toLowerCase().includes(text)) return false;
      }
      return true;
    };
    // Newest first by id, as the core pages.
    const log = this.world.messages;
    if (log.length === 0) return { rows: [], next_before: null, searched_to: null };
    const top = Math.max(...log.map((m) => m.id));
    const before = page.before ?? Number.MAX_SAFE_INTEGER;
    const bounded = !store && !byDeployment;
    const start = Math.min(before, top + 1);
    const floor = bounded ? start - (this.options.scanRows ?? SCAN_ROWS) : -Infinity;
    const found = log
      .filter((m) => m.id < start && m.id >= floor && matches(m))
      .sort((a, b) => b.id - a.id)
      .slice(0, page.limit + 1);
    const more = found.length > page.limit;
    const rows = found.slice(0, page.limit);
    if (more) return { rows, next_before: rows[rows.length - 1].id, searched_to: null };
    if (bounded && log.some((m) => m.id < floor)) {
      const examined = log.filter((m) => m.id >= floor).sort((a, b) => a.id - b.id)[0];
      return { rows, next_before: floor, searched_to: examined?.at ?? null };
    }
    return { rows, next_before: null, searched_to: null };
  }

  private async hash(path: string, version: string, progress: Sink<unknown>, id?: number): Promise<ArtifactView> {
    const total = 48 * 1024 * 1024;
    for (let done = 0; done <= total; done += total / 4) {
      this.send(progress, { bytes_done: done, bytes_total: total });
      await new Promise((r) => setTimeout(r, 60));
    }
    const name = path.split("/").pop() ?? path;
    const artifact: ArtifactView = {
      id: id ?? ++this.nextId,
      name,
      version,
      path,
      size: total,
      md5: "0cc175b9c0f1b6a831c399e269772661",
      added_at: new Date().toISOString(),
      hashed_at: new Date().toISOString(),
      stale_since: null,
      stale: false,
      stale_reason: null,
      served_url: `http://192.168.1.20:8484/fw/${(id ?? this.nextId).toString(16)}e1d2/${name}`,
    };
    this.world.artifacts = [artifact, ...this.world.artifacts.filter((a) => a.id !== artifact.id)];
    return artifact;
  }

  private setStore(storeId: string, change: Partial<StoreSettings>): StoreSettings {
    if (!storeId || /[/+#]/.test(storeId)) throw fail("invalid_input", `store id "${storeId}": not a valid id`);
    const stores = this.world.stores ?? [];
    const old = stores.find((s) => s.store_id === storeId) ?? { store_id: storeId, timezone: null, windows: null };
    const next = { ...old, ...change };
    this.world.stores = [...stores.filter((s) => s.store_id !== storeId), next].sort((a, b) => a.store_id.localeCompare(b.store_id));
    return next;
  }

  /** A store's usable window (zone and windows both set), as the core resolves it. */
  private usable(storeId: string): StoreSettings | null {
    const s = (this.world.stores ?? []).find((x) => x.store_id === storeId);
    return s?.timezone && s.windows ? s : null;
  }

  /** The review's per-store plan. The mock says "when its window opens" rather than doing
   * the zone arithmetic, which the core owns. */
  private storePlan(req: NewDeployment): StorePlan[] {
    const order: string[] = [];
    const counts = new Map<string, number>();
    for (const t of req.targets) {
      if (!counts.has(t.store_id)) order.push(t.store_id);
      counts.set(t.store_id, (counts.get(t.store_id) ?? 0) + 1);
    }
    const windowed = req.schedule?.in_windows ?? false;
    const missing = windowed ? order.filter((s) => !this.usable(s)) : [];
    if (missing.length > 0 && !req.schedule?.send_unwindowed) {
      throw fail(
        "invalid_input",
        `no maintenance window for ${missing.join(", ")}: set a time zone and a window (storefleet fleet set-timezone, set-window) or choose to send to such stores at once`,
      );
    }
    return order.map((store) => {
      const name = this.world.controllers.find((c) => c.store_id === store && c.store_name)?.store_name ?? null;
      const w = windowed ? this.usable(store) : null;
      const label = name ?? store;
      return {
        store_id: store,
        store_name: name,
        targets: counts.get(store) ?? 0,
        timezone: w?.timezone ?? null,
        windows: w?.windows ?? null,
        start: w ? { kind: "at", at: Date.now() + 7 * 3600_000 } : { kind: "now" },
        text: w ? `${label}: tonight 22:00 (in 7 h)` : `${label}: now${windowed ? " (no window set: sent at once)" : ""}`,
      } satisfies StorePlan;
    });
  }

  private waits(summary: DeploymentSummary, targets: TargetRow[]): StoreWait[] {
    const stores = summary.policy.schedule?.in_windows?.stores ?? {};
    const queued = new Map<string, number>();
    for (const t of targets) if (t.status === "queued") queued.set(t.store_id, (queued.get(t.store_id) ?? 0) + 1);
    return [...queued.entries()]
      .filter(([store]) => stores[store])
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([store, waiting]) => ({
        store_id: store,
        waiting,
        timezone: stores[store]!.timezone,
        windows: stores[store]!.windows,
        opens_at: Date.now() + 7 * 3600_000,
        opens: "tonight 22:00 (in 7 h)",
      }));
  }

  private review(req: NewDeployment) {
    return this.planned(req).review;
  }

  /** The review, and the targets that are sent (those not skipped as current). */
  private planned(original: NewDeployment) {
    let req = original;
    const a = this.world.artifacts.find((x) => x.id === req.artifact_id);
    if (!a) throw fail("not_found", `no firmware ${req.artifact_id}`);
    if (a.stale) throw fail("invalid_input", `${a.name} changed since it was hashed; re-hash it first`);
    if (req.targets.length === 0) throw fail("invalid_input", "no targets");
    if (req.serving.kind === "built_in" && !this.server.running) {
      throw fail("unavailable", `the built-in firmware server is not running: ${this.server.error ?? "it is off (Firmware view, built-in server)"}`);
    }
    // As the core's skip-current rule: a controller whose firmware_version is the version.
    let skipped = 0;
    if (req.skip_current) {
      const current = new Set(this.world.controllers.filter((c) => c.firmware_version === a.version).map((c) => `${c.store_id}/${c.controller_id}`));
      const send = req.targets.filter((t) => !current.has(`${t.store_id}/${t.controller_id}`));
      if (send.length === 0) throw fail("invalid_input", `every chosen controller already runs ${a.version}: nothing to send`);
      skipped = req.targets.length - send.length;
      req = { ...req, targets: send };
    }
    const stores = this.storePlan(req);
    const never = original.targets.filter(
      (t) => !this.world.controllers.find((c) => c.store_id === t.store_id && c.controller_id === t.controller_id)?.last_seen,
    ).length;
    const review = {
      firmware_name: a.name,
      firmware_version: a.version,
      file_url: req.serving.kind === "external" ? req.serving.url : a.served_url,
      file_size: a.size,
      checksum: a.md5,
      target_count: req.targets.length,
      store_count: new Set(req.targets.map((t) => t.store_id)).size,
      waves: planWaves(req.targets.length, req.policy),
      stores,
      skipped_current: skipped,
      warnings: never > 0 ? [`${never} target${never === 1 ? " was" : "s were"} never seen on the broker`] : [],
    };
    return { review, targets: req.targets };
  }

  private start(req: NewDeployment): DeploymentSummary {
    const { review, targets: sent } = this.planned(req);
    const id = `dep-${Date.now().toString(36)}`;
    const policy: RolloutPolicy = { ...(req.policy ?? DEFAULT_POLICY) };
    if (req.schedule && (req.schedule.in_windows || req.schedule.not_before !== null || req.schedule.not_after !== null)) {
      const stores: Record<string, StoreWindow> = {};
      for (const p of review.stores) if (p.timezone && p.windows) stores[p.store_id] = { timezone: p.timezone, windows: p.windows };
      policy.schedule = {
        not_before: req.schedule.not_before,
        not_after: req.schedule.not_after,
        in_windows: req.schedule.in_windows ? { unwindowed: req.schedule.send_unwindowed ? "send_at_once" : "refuse", stores } : null,
      };
    }
    const waveOf: number[] = [];
    review.waves.forEach((size, wv) => {
      for (let i = 0; i < size; i++) waveOf.push(wv);
    });
    const now = Date.now();
    const targets: TargetRow[] = sent.map((t, i) => ({ ...t, status: "queued", attempt: 1, errors: [], updated_at: now, wave: waveOf[i] }));
    const summary = summaryOf(id, targets, now, policy, {
      firmware_version: review.firmware_version,
      file_url: review.file_url,
      file_size: review.file_size,
      checksum: review.checksum,
      ack_timeout_ms: req.ack_timeout_secs * 1000,
      completion_timeout_ms: req.completion_timeout_secs * 1000,
      finished: false,
      state: "running",
    });
    this.deployments.set(id, new LiveDeployment(summary, targets, "local"));
    return summary;
  }

  private control(action: string, id: string): DeploymentSummary {
    const d = this.deployments.get(id);
    if (!d) throw fail("not_found", `no deployment ${id}`);
    // As the core: another operator's deployment is read only.
    if (d.origin === "observed") throw fail("conflict", `deployment ${id} is another operator's, observed on the broker: it is read only here`);
    const s = d.summary;
    const now = Date.now();
    const batch: Transition[] = [];
    if (action === "pause") {
      if (s.state !== "running") throw fail("conflict", `the deployment is ${s.state}, not running`);
      s.state = "paused";
      s.paused_reason = "paused by the operator";
    } else if (action === "resume") {
      if (s.state !== "paused") throw fail("conflict", `the deployment is ${s.state}, not paused`);
      s.state = "running";
      s.paused_reason = null;
    } else if (action === "cancel") {
      if (s.finished) throw fail("conflict", "the deployment has already finished");
      d.targets.forEach((t, i) => {
        if (!isTerminal(t.status)) batch.push(d.move(i, "cancelled", now));
      });
      s.state = "cancelled";
      s.finished = true;
    } else if (action === "retry") {
      d.targets.forEach((t, i) => {
        if (t.status === "failed" || t.status === "timed_out") batch.push(d.move(i, "queued", now, [], t.attempt + 1));
      });
      if (batch.length === 0) throw fail("conflict", "no failed targets to retry");
      s.finished = false;
      s.state = "running";
    }
    d.refresh();
    this.publish(id, batch);
    return JSON.parse(JSON.stringify(s)) as DeploymentSummary;
  }

  private publish(id: string, batch: Transition[]) {
    const d = this.deployments.get(id);
    const sinks = this.watchers.get(id);
    if (!d || !sinks) return;
    this.transitions += batch.length;
    for (const sink of sinks) {
      if (batch.length > 0) this.send(sink, { kind: "transitions", transitions: batch });
      this.send(sink, { kind: "summary", summary: d.summary });
    }
  }

  /** Moves `n` unfinished targets one step on and publishes them as one batch. */
  advance(id: string, n: number, failShare = 0.1): number {
    const d = this.deployments.get(id);
    if (!d) return 0;
    const now = Date.now();
    const batch: Transition[] = [];
    const count = d.targets.length;
    const startAt = Math.floor(this.random() * count);
    for (let k = 0; k < count && batch.length < n; k++) {
      const i = (startAt + k) % count;
      const t = d.targets[i];
      if (t.status === "queued") batch.push(d.move(i, "sent", now));
      else if (t.status === "sent") batch.push(d.move(i, "acknowledged", now));
      else if (t.status === "acknowledged") {
        if (this.random() < failShare) batch.push(d.move(i, "failed", now, FAILURE_ERRORS[i % FAILURE_ERRORS.length]));
        else batch.push(d.move(i, "completed", now));
      }
    }
    d.refresh();
    this.publish(id, batch);
    return batch.length;
  }

  /** Publishes `perSecond` transitions a second in batches every `batchMs`, like the core. */
  stream(id: string, perSecond: number, batchMs = 100) {
    const perBatch = Math.max(1, Math.round((perSecond * batchMs) / 1000));
    this.streams.push(setInterval(() => this.advance(id, perBatch), batchMs));
  }

  stopStreams() {
    for (const s of this.streams) clearInterval(s);
    this.streams = [];
  }

  setConnection(patch: Partial<ConnectionStatus>) {
    this.connection = { ...this.connection, ...patch };
    for (const sink of this.connectionSinks) this.send(sink, this.connection);
  }

  /** The watcher saw a firmware file change after hashing. */
  markStale(artifactId: number, reason = "the file changed after it was hashed (size or time differ)") {
    const a = this.world.artifacts.find((x) => x.id === artifactId);
    if (!a) return;
    Object.assign(a, { stale: true, stale_since: new Date().toISOString(), stale_reason: reason });
    for (const sink of this.firmwareSinks) this.send(sink, { stale: [artifactId] });
  }

  /** As `history::prune`: finished deployments created before the cut-off go. */
  private going(before: number): string[] {
    return [...this.deployments.entries()].filter(([, d]) => d.summary.finished && d.summary.created_at < before).map(([id]) => id);
  }

  private prunePlan(before: number) {
    const going = new Set(this.going(before));
    return {
      before,
      deployments: going.size,
      targets: [...going].reduce((n, id) => n + (this.deployments.get(id)?.summary.total ?? 0), 0),
      messages: this.world.messages.filter((m) => (m.deployment_id ? going.has(m.deployment_id) : m.at < before)).length,
      downloads: 0,
      unfinished_kept: [...this.deployments.values()].filter((d) => !d.summary.finished && d.summary.created_at < before).length,
    };
  }

  /** As `Serving::configure`: checked, refused under a deployment downloading from it. */
  private configureServer(wanted: ServerSettings): ServerStatus {
    const bind = wanted.bind_address.trim();
    const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(bind);
    if (!(ipv4 && ipv4.slice(1).every((n) => +n < 256)) && !/^[0-9a-f:]+$/i.test(bind)) {
      throw fail("invalid_input", `bind address ${JSON.stringify(wanted.bind_address)} is not an IP address (0.0.0.0 listens on every network)`);
    }
    const advertise = wanted.advertise?.trim() || null;
    if (advertise && /[/\s?#@]/.test(advertise)) {
      throw fail("invalid_input", `advertised host ${JSON.stringify(advertise)} is not a host name or IP address the controllers could reach`);
    }
    const settings = { enabled: wanted.enabled, bind_address: bind, port: wanted.port, advertise };
    const old = this.server;
    if (JSON.stringify(old.settings) !== JSON.stringify(settings) && old.base_url) {
      const users = [...this.deployments.entries()].filter(
        ([, d]) => d.origin === "local" && (d.summary.state === "running" || d.summary.state === "paused") && d.summary.file_url.startsWith(`${old.base_url}/`),
      );
      if (users.length) {
        throw fail(
          "conflict",
          `${users.length} unfinished deployment(s) download from this server (first: ${users[0]![0]}); finish or cancel them before moving or stopping it`,
        );
      }
    }
    if (!settings.enabled) {
      this.server = { ...old, settings, running: false, base_url: null, listening: null, reach: "off", error: null };
      return this.server;
    }
    const host = advertise ?? (bind === "0.0.0.0" ? "192.168.1.20" : bind);
    const port = settings.port === 0 ? 40000 + (this.nextId++ % 1000) : settings.port;
    const local = bind.startsWith("127.") || host.startsWith("127.") || host === "localhost";
    this.server = {
      settings,
      from_environment: false,
      running: true,
      base_url: `http://${host}:${port}`,
      listening: `${bind}:${port}`,
      reach: local ? "this_machine" : "store_network",
      error: null,
    };
    return this.server;
  }

  pushActivity(messages: MessageRow[]) {
    this.world.messages = [...messages].reverse().concat(this.world.messages);
    for (const sink of this.activitySinks) this.send(sink, { messages });
  }

  /** A big deployment for the benchmark: `targets` queued targets over stores of 8. */
  addLargeDeployment(id: string, targets: number): void {
    const now = Date.now();
    const rows: TargetRow[] = [];
    for (let i = 0; i < targets; i++) {
      rows.push({
        store_id: `store-${String(Math.floor(i / 8) + 1).padStart(4, "0")}`,
        controller_id: `ctl-${String((i % 8) + 1).padStart(2, "0")}`,
        status: "queued",
        attempt: 1,
        errors: [],
        updated_at: now,
        wave: 0,
      });
    }
    const summary = summaryOf(id, rows, now, DEFAULT_POLICY, { finished: false, state: "running" });
    summary.counts = emptyCounts();
    summary.counts.queued = targets;
    this.deployments.set(id, new LiveDeployment(summary, rows, "local"));
  }
}

/** As the core's `TopicPrefix::new`: why a prefix is refused, or null. */
function topicPrefixError(prefix: string): string | null {
  if (prefix === "") return null;
  const chars = [...prefix].length;
  if (chars > 256) return `topic prefix is ${chars} characters long; at most 256 are allowed`;
  if (prefix.startsWith("$")) return "topic prefix must not start with '$' (reserved for the broker)";
  if (prefix.split("/").some((level) => level === "")) return "topic prefix has an empty level (leading, trailing or double '/')";
  if (/[+#\u0000-\u001f\u007f]/.test(prefix)) return "topic prefix: it contains a wildcard or a control character";
  return null;
}
