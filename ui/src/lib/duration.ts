// Durations as operators type them: "90", "90s", "5m", "1h30m", "2h 15m 10s".

const UNIT_SECONDS: Record<string, number> = { h: 3600, m: 60, s: 1 };

/** Seconds in `text`, or an error message. A bare number means seconds. */
export function parseDuration(text: string): { secs: number } | { error: string } {
  const t = text.trim().toLowerCase();
  if (t === "") return { error: "Enter a duration, e.g. 30s, 5m or 1h30m." };
  if (/^\d+$/.test(t)) {
    const secs = Number(t);
    return secs > 0 ? { secs } : { error: "The duration must be more than zero." };
  }
  const re = /(\d+)\s*([hms])\s*/g;
  let secs = 0;
  let consumed = 0;
  let seen = "";
  for (let m = re.exec(t); m !== null; m = re.exec(t)) {
    if (m.index !== consumed) break;
    if (seen.includes(m[2])) return { error: `"${m[2]}" appears twice in "${text.trim()}".` };
    seen += m[2];
    secs += Number(m[1]) * UNIT_SECONDS[m[2]];
    consumed = re.lastIndex;
  }
  if (consumed !== t.length || seen === "") {
    return { error: `"${text.trim()}" is not a duration; use e.g. 30s, 5m or 1h30m.` };
  }
  if (secs <= 0) return { error: "The duration must be more than zero." };
  return { secs };
}

/** The shortest text `parseDuration` reads back as `secs`. */
export function formatDuration(secs: number): string {
  const h = Math.floor(secs / 3600);
  const m = Math.floor((secs % 3600) / 60);
  const s = secs % 60;
  return `${h ? `${h}h` : ""}${m ? `${m}m` : ""}${s || secs === 0 ? `${s}s` : ""}`;
}
