// Search patterns as Nacre's config search reads them: without `*` a pattern matches any
// value containing it; with `*` the whole value must match, `*` standing for any run of
// characters. The console applies the same rule to lists it filters itself (KV keys,
// packages) and uses it to highlight what matched.

export function globMatch(pattern: string, value: string): boolean {
  if (!pattern.includes("*")) return value.includes(pattern);
  const parts = pattern.split("*");
  const first = parts[0];
  const last = parts[parts.length - 1];
  if (!value.startsWith(first)) return false;
  let at = first.length;
  for (const part of parts.slice(1, -1)) {
    const found = value.indexOf(part, at);
    if (found < 0) return false;
    at = found + part.length;
  }
  return value.length - at >= last.length && value.endsWith(last);
}

export interface Piece {
  text: string;
  hit: boolean;
}

/** Splits `value` into the parts a pattern's literal pieces matched and the rest. */
export function highlight(pattern: string, value: string): Piece[] {
  if (!pattern || !globMatch(pattern, value)) return [{ text: value, hit: false }];
  const spans: [number, number][] = [];
  if (!pattern.includes("*")) {
    const at = value.indexOf(pattern);
    spans.push([at, at + pattern.length]);
  } else {
    const parts = pattern.split("*");
    let at = 0;
    parts.forEach((part, i) => {
      if (!part) return;
      const found = i === parts.length - 1 ? value.length - part.length : value.indexOf(part, at);
      spans.push([found, found + part.length]);
      at = found + part.length;
    });
  }
  const out: Piece[] = [];
  let pos = 0;
  for (const [s, e] of spans) {
    if (s > pos) out.push({ text: value.slice(pos, s), hit: false });
    if (e > s) out.push({ text: value.slice(s, e), hit: true });
    pos = Math.max(pos, e);
  }
  if (pos < value.length) out.push({ text: value.slice(pos), hit: false });
  return out;
}

/** The items whose `key` matches the pattern (all of them for an empty pattern). */
export function filterByPattern<T>(items: T[], pattern: string, key: (item: T) => string): T[] {
  const p = pattern.trim();
  return p ? items.filter((item) => globMatch(p, key(item))) : items;
}
