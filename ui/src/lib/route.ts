// The visible view lives in the URL hash, so a reload (and a test) can open any view.

export type ViewName = "connection" | "fleet" | "firmware" | "new-deployment" | "deployment" | "history" | "activity";

export type Route = { view: Exclude<ViewName, "deployment"> } | { view: "deployment"; deploymentId: string };

export const NAV_VIEWS: readonly { view: Exclude<ViewName, "deployment">; label: string }[] = [
  { view: "connection", label: "Connection" },
  { view: "fleet", label: "Fleet" },
  { view: "firmware", label: "Firmware" },
  { view: "new-deployment", label: "New deployment" },
  { view: "history", label: "History" },
  { view: "activity", label: "Activity" },
];

const PLAIN = new Set<string>(NAV_VIEWS.map((v) => v.view));

/** `#/deployment/abc` -> the deployment view; anything unknown -> connection. */
export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  if (parts[0] === "deployment" && parts[1]) {
    return { view: "deployment", deploymentId: decodeURIComponent(parts[1]) };
  }
  if (parts.length === 1 && PLAIN.has(parts[0])) return { view: parts[0] as Exclude<ViewName, "deployment"> };
  return { view: "connection" };
}

export function routeHash(route: Route): string {
  return route.view === "deployment" ? `#/deployment/${encodeURIComponent(route.deploymentId)}` : `#/${route.view}`;
}
