// Line diffs: Myers' O((N+M)D) algorithm in linear space (the middle-snake recursion), so a
// 100 KiB config against a wholly different one costs little memory. Written for the console;
// tested in diff.test.ts.

export type LineOp =
  | { kind: "eq"; a: number; b: number; text: string }
  | { kind: "del"; a: number; text: string }
  | { kind: "add"; b: number; text: string };

/** Splits text into lines; a final newline does not make an extra empty line. */
export function lines(text: string): string[] {
  if (text === "") return [];
  const all = text.split(/\r?\n/);
  if (all.length > 1 && all[all.length - 1] === "") all.pop();
  return all;
}

/** The shortest edit script turning `oldText` into `newText`, line by line. */
export function diffLines(oldText: string, newText: string): LineOp[] {
  const a = lines(oldText);
  const b = lines(newText);
  const ids = new Map<string, number>();
  const id = (s: string) => {
    let n = ids.get(s);
    if (n === undefined) {
      n = ids.size;
      ids.set(s, n);
    }
    return n;
  };
  const ai = Int32Array.from(a, id);
  const bi = Int32Array.from(b, id);
  const out: LineOp[] = [];
  const size = a.length + b.length + 2;
  const vf = new Int32Array(2 * size + 2);
  const vb = new Int32Array(2 * size + 2);
  const emit = {
    eq: (x: number, y: number) => out.push({ kind: "eq", a: x, b: y, text: a[x] }),
    del: (x: number) => out.push({ kind: "del", a: x, text: a[x] }),
    add: (y: number) => out.push({ kind: "add", b: y, text: b[y] }),
  };
  compare(ai, 0, ai.length, bi, 0, bi.length, vf, vb, size, emit);
  return out;
}

interface Emit {
  eq(x: number, y: number): void;
  del(x: number): void;
  add(y: number): void;
}

function compare(
  a: Int32Array, aLo: number, aHi: number,
  b: Int32Array, bLo: number, bHi: number,
  vf: Int32Array, vb: Int32Array, off: number, emit: Emit,
): void {
  // Common prefix and suffix first: cheap, and it leaves both ends differing.
  let pre = 0;
  while (aLo + pre < aHi && bLo + pre < bHi && a[aLo + pre] === b[bLo + pre]) pre++;
  for (let i = 0; i < pre; i++) emit.eq(aLo + i, bLo + i);
  aLo += pre;
  bLo += pre;
  let suf = 0;
  while (aHi - suf > aLo && bHi - suf > bLo && a[aHi - 1 - suf] === b[bHi - 1 - suf]) suf++;
  const tailA = aHi - suf;
  const tailB = bHi - suf;
  if (aLo === tailA) {
    for (let y = bLo; y < tailB; y++) emit.add(y);
  } else if (bLo === tailB) {
    for (let x = aLo; x < tailA; x++) emit.del(x);
  } else {
    const [x, y, u, v] = middleSnake(a, aLo, tailA, b, bLo, tailB, vf, vb, off);
    compare(a, aLo, aLo + x, b, bLo, bLo + y, vf, vb, off, emit);
    for (let i = 0; i < u - x; i++) emit.eq(aLo + x + i, bLo + y + i);
    compare(a, aLo + u, tailA, b, bLo + v, tailB, vf, vb, off, emit);
  }
  for (let i = 0; i < suf; i++) emit.eq(tailA + i, tailB + i);
}

/** The middle snake of an optimal path, as (x, y) → (u, v) relative to (aLo, bLo). */
function middleSnake(
  a: Int32Array, aLo: number, aHi: number,
  b: Int32Array, bLo: number, bHi: number,
  vf: Int32Array, vb: Int32Array, off: number,
): [number, number, number, number] {
  const n = aHi - aLo;
  const m = bHi - bLo;
  const delta = n - m;
  const odd = (delta & 1) !== 0;
  const max = Math.ceil((n + m) / 2);
  vf[off + 1] = 0;
  vb[off + 1] = 0;
  for (let d = 0; d <= max; d++) {
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && vf[off + k - 1] < vf[off + k + 1]) ? vf[off + k + 1] : vf[off + k - 1] + 1;
      let y = x - k;
      const x0 = x;
      const y0 = y;
      while (x < n && y < m && a[aLo + x] === b[bLo + y]) {
        x++;
        y++;
      }
      vf[off + k] = x;
      const kr = delta - k;
      if (odd && kr >= -(d - 1) && kr <= d - 1 && x + vb[off + kr] >= n) {
        return [x0, y0, x, y];
      }
    }
    for (let kr = -d; kr <= d; kr += 2) {
      let xr = kr === -d || (kr !== d && vb[off + kr - 1] < vb[off + kr + 1]) ? vb[off + kr + 1] : vb[off + kr - 1] + 1;
      let yr = xr - kr;
      const xr0 = xr;
      const yr0 = yr;
      while (xr < n && yr < m && a[aHi - 1 - xr] === b[bHi - 1 - yr]) {
        xr++;
        yr++;
      }
      vb[off + kr] = xr;
      const k = delta - kr;
      if (!odd && k >= -d && k <= d && vf[off + k] + xr >= n) {
        return [n - xr, m - yr, n - xr0, m - yr0];
      }
    }
  }
  // Unreachable for consistent input; fall back to replacing everything.
  return [0, 0, 0, 0];
}

export interface Hunk {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  ops: LineOp[];
}

/** Groups an edit script into hunks with `context` unchanged lines around each change. */
export function hunks(ops: LineOp[], context = 3): Hunk[] {
  const ranges: [number, number][] = [];
  for (let i = 0; i < ops.length; i++) {
    if (ops[i].kind === "eq") continue;
    const start = Math.max(0, i - context);
    const end = Math.min(ops.length, i + 1 + context);
    const last = ranges[ranges.length - 1];
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else ranges.push([start, end]);
  }
  return ranges.map(([start, end]) => {
    const before = ops.slice(0, start);
    const slice = ops.slice(start, end);
    const oldBefore = before.filter((o) => o.kind !== "add").length;
    const newBefore = before.filter((o) => o.kind !== "del").length;
    const oldLines = slice.filter((o) => o.kind !== "add").length;
    const newLines = slice.filter((o) => o.kind !== "del").length;
    return {
      oldStart: oldLines ? oldBefore + 1 : oldBefore,
      oldLines,
      newStart: newLines ? newBefore + 1 : newBefore,
      newLines,
      ops: slice,
    };
  });
}

/** A unified diff as text (what `diff -u` prints, without file headers). */
export function unified(oldText: string, newText: string, context = 3): string {
  return hunks(diffLines(oldText, newText), context)
    .map((h) => {
      const head = `@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`;
      const body = h.ops.map((o) => (o.kind === "eq" ? " " : o.kind === "del" ? "-" : "+") + o.text);
      return [head, ...body].join("\n");
    })
    .join("\n");
}

/** Counts of added and removed lines. */
export function stat(ops: LineOp[]): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const op of ops) {
    if (op.kind === "add") added++;
    else if (op.kind === "del") removed++;
  }
  return { added, removed };
}

/** A history row as Nacos answers it: an update or delete row holds the content before it. */
export interface HistoryRow {
  id: string;
  opType: string;
  content: string;
}

/**
 * What one change of a config's history did: the content before and after it. Rows are newest
 * first, as the history API lists them; `current` is the config's content now ("" if deleted).
 */
export function changeOf(rows: HistoryRow[], index: number, current: string): { before: string; after: string } {
  const row = rows[index];
  switch (row.opType.trim()) {
    case "I":
      return { before: "", after: row.content };
    case "D":
      return { before: row.content, after: "" };
    default: {
      // The newer row holds the content before the newer change: the content after this one.
      const newer = index > 0 ? rows[index - 1] : undefined;
      return { before: row.content, after: newer ? newer.content : current };
    }
  }
}
