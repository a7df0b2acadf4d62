// How the window words the broker link and the history in use: the status bar and the
// overview say the same.
import type { ConnectionStatus } from "../bindings/ConnectionStatus";
import type { HistoryKind } from "../bindings/HistoryKind";
import { formatCountdown } from "./format";

/** The broker by its profile's name, or else its URL. */
export function brokerName(status: ConnectionStatus | null, fallback = "the broker"): string {
  return status?.profile_name ?? status?.broker_url ?? fallback;
}

/** One line on the link: connected, reconnecting in 8 s, refused… */
export function connectionLabel(status: ConnectionStatus | null, now: number): string {
  if (!status) return "Not connected";
  switch (status.state) {
    case "connected":
      return `Connected to ${brokerName(status)}`;
    case "connecting":
      return `Connecting to ${brokerName(status)}…`;
    case "reconnecting":
      return status.next_attempt_at !== null
        ? `Reconnecting ${formatCountdown(status.next_attempt_at, now)}${status.attempt ? ` (attempt ${status.attempt})` : ""}`
        : "Reconnecting…";
    case "refused":
      return `${brokerName(status, "The broker")}: login refused; not retrying`;
    case "disconnected":
      return "Offline";
  }
  return "";
}

export const HISTORY_LABEL: Record<HistoryKind, string> = {
  demo: "Demo history (sandbox)",
  real: "Real history",
};
