// Maintenance windows as text, checked the way the core checks them (src/maintenance/
// window.rs), so the Fleet view and the mock backend refuse the same input with the same
// one-line reason. The core stays the authority: the real commands check again.

const DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

function day(text: string): boolean {
  const t = text.toLowerCase();
  return DAYS.some((d) => d === t || (t.length === 3 && d.startsWith(t)));
}

function time(text: string): string | null {
  const parts = text.split(":");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^\d\d$/.test(p))) {
    return `bad time "${text}" (write HH:MM or HH:MM:SS)`;
  }
  const [h, m, s = 0] = parts.map(Number);
  if (h === 24 && m === 0 && s === 0) return null;
  if (h > 23 || m > 59 || s > 59) return `time "${text}" out of range`;
  return null;
}

function checkOne(text: string): string | null {
  const words = text.trim().split(/\s+/);
  const bad = (reason: string) => `invalid window "${text.trim()}": ${reason}`;
  if (words.length !== 2) return bad("write DAYS HH:MM-HH:MM, like Mon-Fri 22:00-05:00");
  const [days, hours] = words;
  if (days.toLowerCase() !== "daily") {
    for (const d of days.split("-", 2)) if (!day(d)) return bad(`unknown day "${d}"`);
  }
  const range = hours.split("-");
  if (range.length !== 2) return bad(`bad hours "${hours}" (write HH:MM-HH:MM)`);
  for (const t of range) {
    const e = time(t);
    if (e) return bad(e);
  }
  if (range[0].startsWith("24")) return bad("a window cannot start at 24:00");
  if (range[0] === range[1]) return bad("a window must not start and end at the same time");
  return null;
}

/** The first problem of a list like `Mon-Fri 22:00-05:00, Sat-Sun 23:00-06:00`, or null. */
export function windowsProblem(text: string): string | null {
  for (const part of text.split(/[,;]/)) {
    if (!part.trim()) continue;
    const e = checkOne(part);
    if (e) return e;
  }
  return null;
}

/** Whether the browser knows the IANA zone (the core bundles its own database). */
export function isKnownZone(zone: string): boolean {
  if (!zone.trim()) return false;
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone.trim() });
    return true;
  } catch {
    return false;
  }
}

export const zoneProblem = (zone: string) =>
  isKnownZone(zone) ? null : `unknown time zone "${zone.trim()}" (write an IANA name like Europe/Berlin or America/New_York)`;
