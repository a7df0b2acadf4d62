// The History and Activity filters as the form holds them (strings, blank: any) and as the
// search commands take them (history::search's DeploymentFilter and MessageFilter).
import type { DeploymentFilter } from "../bindings/DeploymentFilter";
import type { DeploymentState } from "../bindings/DeploymentState";
import type { MessageFilter } from "../bindings/MessageFilter";
import type { Origin } from "../bindings/Origin";

export type FilterFields = {
  text: string;
  store: string;
  controller: string;
  version: string;
  state: "" | DeploymentState;
  origin: "" | Origin;
  /** `YYYY-MM-DD` from a date input, local time; blank: open. */
  from: string;
  to: string;
  /** Activity only. */
  event: string;
  /** An outcome code, or `group:<name>` for every code of an OUTCOMES group. */
  outcome: string;
};

export const emptyFields = (): FilterFields => ({
  text: "",
  store: "",
  controller: "",
  version: "",
  state: "",
  origin: "",
  from: "",
  to: "",
  event: "",
  outcome: "",
});

export const STATES: readonly DeploymentState[] = ["running", "paused", "finished", "cancelled"];

/** The message log's event types (protocol EventType names). */
export const EVENT_TYPES: readonly { value: string; label: string }[] = [
  { value: "update_firmware", label: "Update command" },
  { value: "update_firmware_ack", label: "Update ack" },
  { value: "update_firmware_completed", label: "Completed" },
  { value: "update_firmware_failed", label: "Failed" },
  { value: "cancel_update_firmware", label: "Cancel command" },
  { value: "cancel_update_firmware_ack", label: "Cancel ack" },
];

/** Outcomes the history records, grouped as the activity view colours them. */
export const OUTCOMES: readonly { group: string; codes: readonly string[] }[] = [
  { group: "Commands", codes: ["outbox", "published", "withdrawn"] },
  { group: "Accepted", codes: ["applied", "own_echo", "observed", "deferred"] },
  { group: "Changed nothing", codes: ["duplicate", "stale_attempt", "already_reported", "cancel_requested", "cancelled", "timed_out"] },
  {
    group: "Rejected",
    codes: [
      "unknown_deployment",
      "unknown_target",
      "unknown_correlation_id",
      "correlation_id_of_other_target",
      "correlation_id_of_other_command",
      "not_sent",
      "correlation_id_reused",
      "too_large",
      "bad_topic",
      "not_utf8",
      "not_json",
      "duplicate_key",
      "not_object",
      "missing_field",
      "bad_field",
      "bad_version",
      "unsupported_version",
      "unknown_event_type",
      "wrong_topic_kind",
      "topic_mismatch",
    ],
  },
];

const blank = (s: string) => (s.trim() === "" ? null : s.trim());

/** A date input's day as ms: its first (`end` false) or last millisecond, local time. */
export function dayBound(day: string, end: boolean): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day.trim());
  if (!m) return null;
  const start = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])).getTime();
  return end ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + 1).getTime() - 1 : start;
}

export function deploymentFilter(f: FilterFields): DeploymentFilter {
  return {
    text: blank(f.text),
    store_id: blank(f.store),
    controller_id: blank(f.controller),
    firmware_version: blank(f.version),
    state: f.state || null,
    origin: f.origin || null,
    from: dayBound(f.from, false),
    to: dayBound(f.to, true),
  };
}

/** The outcome codes an outcome field stands for (none: any). */
export function outcomeCodes(field: string): string[] {
  if (field.startsWith("group:")) return [...(OUTCOMES.find((g) => `group:${g.group}` === field)?.codes ?? [])];
  return field.trim() ? [field.trim()] : [];
}

export function messageFilter(f: FilterFields): MessageFilter {
  const { text, store_id, controller_id, firmware_version, state, origin, from, to } = deploymentFilter(f);
  return {
    text,
    store_id,
    controller_id,
    firmware_version,
    state,
    origin,
    event_type: blank(f.event),
    outcomes: outcomeCodes(f.outcome),
    from,
    to,
  };
}

/** No field narrows the search: the Activity view then follows the live log. */
export function isUnfiltered(filter: MessageFilter | DeploymentFilter): boolean {
  return Object.values(filter).every((v) => v === null || (Array.isArray(v) && v.length === 0));
}
