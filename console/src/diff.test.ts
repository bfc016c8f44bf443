import { describe, expect, test } from "vitest";
import { changeOf, diffLines, hunks, lines, unified, type LineOp } from "./diff";

/** Applies an edit script: the old side and the new side it describes. */
function sides(ops: LineOp[]): [string[], string[]] {
  const a: string[] = [];
  const b: string[] = [];
  for (const op of ops) {
    if (op.kind !== "add") a.push(op.text);
    if (op.kind !== "del") b.push(op.text);
  }
  return [a, b];
}

/** The length of a longest common subsequence (for checking minimality). */
function lcs(a: string[], b: string[]): number {
  const row = new Array(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    let diag = 0;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j];
      row[j] = a[i - 1] === b[j - 1] ? diag + 1 : Math.max(row[j], row[j - 1]);
      diag = up;
    }
  }
  return row[b.length];
}

function random(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
}

describe("diffLines", () => {
  test("an unchanged text has no changes, an empty one only additions", () => {
    expect(diffLines("a\nb", "a\nb").every((o) => o.kind === "eq")).toBe(true);
    expect(diffLines("", "a\nb").map((o) => o.kind)).toEqual(["add", "add"]);
    expect(diffLines("a\nb\n", "").map((o) => o.kind)).toEqual(["del", "del"]);
    expect(lines("a\n")).toEqual(["a"]);
    expect(lines("a\r\nb")).toEqual(["a", "b"]);
  });

  test("a changed line is one deletion and one addition", () => {
    expect(unified("port: 8080\nname: demo", "port: 9090\nname: demo")).toBe(
      "@@ -1,2 +1,2 @@\n-port: 8080\n+port: 9090\n name: demo",
    );
  });

  test("scripts reproduce both sides and are shortest, on random texts", () => {
    const next = random(42);
    for (let round = 0; round < 300; round++) {
      const alphabet = ["a", "b", "c", "d"].slice(0, 2 + Math.floor(next() * 3));
      const make = () => Array.from({ length: Math.floor(next() * 14) }, () => alphabet[Math.floor(next() * alphabet.length)]);
      const a = make();
      const b = make();
      const ops = diffLines(a.join("\n"), b.join("\n"));
      expect(sides(ops)).toEqual([a, b]);
      const kept = ops.filter((o) => o.kind === "eq").length;
      expect(kept).toBe(lcs(a, b));
    }
  });

  test("two wholly different 100 KiB texts diff quickly", () => {
    const a = Array.from({ length: 3000 }, (_, i) => `a-line ${i} ${"x".repeat(25)}`).join("\n");
    const b = Array.from({ length: 3000 }, (_, i) => `b-line ${i} ${"y".repeat(25)}`).join("\n");
    const started = performance.now();
    const ops = diffLines(a, b);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(ops.filter((o) => o.kind === "del")).toHaveLength(3000);
    expect(ops.filter((o) => o.kind === "add")).toHaveLength(3000);
  });
});

describe("hunks", () => {
  test("changes far apart are separate hunks with their context", () => {
    const a = Array.from({ length: 20 }, (_, i) => `l${i}`);
    const b = [...a];
    b[2] = "changed";
    b[17] = "also changed";
    const parts = hunks(diffLines(a.join("\n"), b.join("\n")), 3);
    expect(parts.map((h) => [h.oldStart, h.oldLines, h.newStart, h.newLines])).toEqual([
      [1, 6, 1, 6],
      [15, 6, 15, 6],
    ]);
  });

  test("close changes share a hunk; a pure insertion counts from the line before", () => {
    const a = ["1", "2", "3", "4", "5"];
    const b = ["1", "x", "3", "y", "5"];
    expect(hunks(diffLines(a.join("\n"), b.join("\n")), 1)).toHaveLength(1);
    const [insert] = hunks(diffLines("", "new"), 3);
    expect([insert.oldStart, insert.oldLines, insert.newStart, insert.newLines]).toEqual([0, 0, 1, 1]);
  });
});

describe("changeOf (Nacos history rows)", () => {
  // Newest first, as the API lists them; an update row holds the content before the update.
  const rows = [
    { id: "9", opType: "U", content: "v2" },
    { id: "7", opType: "D", content: "v1" },
    { id: "5", opType: "I", content: "v1" },
  ];

  test("each change goes from the content before it to the content after it", () => {
    expect(changeOf(rows, 2, "v3")).toEqual({ before: "", after: "v1" });
    expect(changeOf(rows, 1, "v3")).toEqual({ before: "v1", after: "" });
    expect(changeOf(rows, 0, "v3")).toEqual({ before: "v2", after: "v3" });
    const updates = [
      { id: "4", opType: "U", content: "b" },
      { id: "3", opType: "U", content: "a" },
      { id: "1", opType: "I", content: "a" },
    ];
    expect(changeOf(updates, 1, "c")).toEqual({ before: "a", after: "b" });
    expect(changeOf(updates, 0, "c")).toEqual({ before: "b", after: "c" });
  });
});
