// Display formatting shared by the views: sizes, instants, spans and countdowns.

const UNITS = ["KiB", "MiB", "GiB", "TiB"];

/** `1536` -> "1.5 KiB"; bytes below 1 KiB stay exact. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes;
  let unit = -1;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${UNITS[unit]}`;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** Local wall-clock time of a unix-ms instant, "YYYY-MM-DD HH:MM:SS". */
export function formatTime(at: number): string {
  const d = new Date(at);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** Only the clock part, for tables where the date is obvious. */
export function formatClock(at: number): string {
  const d = new Date(at);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A span in ms as "1h 2m", "3m 4s", "5s", "250 ms". */
export function formatSpan(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return m > 0 ? `${h}h ${m}m` : `${h}h`;
  if (m > 0) return s > 0 ? `${m}m ${s}s` : `${m}m`;
  return `${s}s`;
}

/** "just now", "42 s ago", "5 min ago", "3 h ago", "2 d ago"; never for the future. */
export function formatAgo(at: number | null, now: number): string {
  if (at === null) return "never";
  const secs = Math.max(0, Math.floor((now - at) / 1000));
  if (secs < 5) return "just now";
  if (secs < 60) return `${secs} s ago`;
  if (secs < 3600) return `${Math.floor(secs / 60)} min ago`;
  if (secs < 86400) return `${Math.floor(secs / 3600)} h ago`;
  return `${Math.floor(secs / 86400)} d ago`;
}

/** Whole seconds left until `at`, rounded up, never negative: the reconnect countdown. */
export function secondsUntil(at: number, now: number): number {
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/** "in 4 s", "in 1 min 05 s", or "now" once due. */
export function formatCountdown(at: number, now: number): string {
  const secs = secondsUntil(at, now);
  if (secs === 0) return "now";
  if (secs < 60) return `in ${secs} s`;
  return `in ${Math.floor(secs / 60)} min ${pad(secs % 60)} s`;
}

/** "3 commands", "1 command". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;
}

/** The broker a deployment belongs to, as the history records it (`demo`: the demo's own). */
export function brokerLabel(broker: string | null, topicPrefix: string | null): string {
  if (broker === null) return "broker unknown (made before brokers were recorded)";
  const where = broker === "demo" ? "the built-in demo broker" : broker;
  return topicPrefix ? `for ${where}, topic prefix ${topicPrefix}` : `for ${where}`;
}
