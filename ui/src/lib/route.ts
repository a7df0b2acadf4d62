// The visible view lives in the URL hash, so a reload (and a test) can open any view.
import type { FleetFilter } from "./fleet";

export type ViewName =
  | "overview"
  | "connection"
  | "fleet"
  | "firmware"
  | "new-deployment"
  | "deployment"
  | "history"
  | "activity";

/** A view reached from the navigation, without parameters. */
export type PlainView = Exclude<ViewName, "deployment">;

/** What the Fleet view opens filtered by (`#/fleet?q=store-003&result=failed`). */
export type FleetRouteFilter = Partial<Pick<FleetFilter, "query" | "result">>;

export type Route =
  | { view: Exclude<PlainView, "fleet"> }
  | { view: "fleet"; filter?: FleetRouteFilter }
  | { view: "deployment"; deploymentId: string };

export const NAV_VIEWS: readonly { view: PlainView; label: string }[] = [
  { view: "overview", label: "Overview" },
  { view: "connection", label: "Connection" },
  { view: "fleet", label: "Fleet" },
  { view: "firmware", label: "Firmware" },
  { view: "new-deployment", label: "New deployment" },
  { view: "history", label: "History" },
  { view: "activity", label: "Activity" },
];

const PLAIN = new Set<string>(NAV_VIEWS.map((v) => v.view));

const RESULTS = new Set<string>(["any", "none", "queued", "sent", "acknowledged", "completed", "failed", "timed_out", "cancel_requested", "cancelled"]);

function fleetFilter(params: URLSearchParams): FleetRouteFilter | undefined {
  const filter: FleetRouteFilter = {};
  const q = params.get("q");
  if (q) filter.query = q;
  const result = params.get("result");
  if (result && RESULTS.has(result)) filter.result = result as FleetFilter["result"];
  return Object.keys(filter).length > 0 ? filter : undefined;
}

/** `#/deployment/abc` -> the deployment view; anything unknown -> the overview. */
export function parseRoute(hash: string): Route {
  const [path, search = ""] = hash.replace(/^#\/?/, "").split("?", 2);
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "deployment" && parts[1]) {
    return { view: "deployment", deploymentId: decodeURIComponent(parts[1]) };
  }
  if (parts.length === 1 && parts[0] === "fleet") {
    const filter = fleetFilter(new URLSearchParams(search));
    return filter ? { view: "fleet", filter } : { view: "fleet" };
  }
  if (parts.length === 1 && PLAIN.has(parts[0])) return { view: parts[0] as Exclude<PlainView, "fleet"> };
  return { view: "overview" };
}

export function routeHash(route: Route): string {
  if (route.view === "deployment") return `#/deployment/${encodeURIComponent(route.deploymentId)}`;
  if (route.view === "fleet" && route.filter) {
    const params = new URLSearchParams();
    if (route.filter.query) params.set("q", route.filter.query);
    if (route.filter.result && route.filter.result !== "any") params.set("result", route.filter.result);
    const search = params.toString();
    return search ? `#/fleet?${search}` : "#/fleet";
  }
  return `#/${route.view}`;
}
