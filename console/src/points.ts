// A point in time travel, as a person types it: a stream sequence (`42`), or a date and time
// (`2026-11-26 13:05`, read in the browser's time zone, or any ISO 8601 time).

export function pointQuery(input: string): { seq?: string; time?: string } {
  const text = input.trim();
  if (/^#?\d+$/.test(text) && Number(text.replace("#", "")) < 1e11) return { seq: text.replace("#", "") };
  const local = text.match(/^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$/);
  if (local) {
    const [, y, mo, d, h, mi, s] = local;
    return { time: String(new Date(+y, +mo - 1, +d, +h, +mi, +(s ?? 0)).getTime()) };
  }
  if (/^\d{11,}$/.test(text)) return { time: text };
  const ms = Date.parse(text);
  // The server explains what it could not read.
  return { time: Number.isNaN(ms) ? text : String(ms) };
}
