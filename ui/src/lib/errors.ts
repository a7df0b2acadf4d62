// What an error code means to the operator: a heading and what to do next. The message
// itself comes from the core; the UI never parses it.
import type { ErrorCode } from "../bindings/ErrorCode";

export const ERROR_HEADING: Record<ErrorCode, string> = {
  invalid_input: "That request was not accepted",
  not_found: "Not found",
  conflict: "That conflicts with the current state",
  unavailable: "Not available right now",
  internal: "Something went wrong",
};

export const ERROR_HINT: Record<ErrorCode, string> = {
  invalid_input: "Check the values and try again.",
  not_found: "It may have been removed; refresh the list.",
  conflict: "Refresh and try again.",
  unavailable: "Check the broker connection; Storefleet retries on its own.",
  internal: "Try again; if it keeps happening, the log has the details.",
};
