import { describe, expect, test } from "vitest";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { dictionaries } from "./i18n";

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.tsx?$/.test(name) && !name.endsWith(".test.ts") ? [path] : [];
  });
}

describe("translations", () => {
  test("Chinese has every English key, none empty, with the same placeholders", () => {
    const { en, zh } = dictionaries;
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
    for (const [key, text] of Object.entries(en)) {
      const other = zh[key as keyof typeof zh];
      expect(text.trim(), key).not.toBe("");
      expect(other.trim(), key).not.toBe("");
      expect(placeholders(other), key).toEqual(placeholders(text));
    }
  });

  test("every key the pages ask for exists", () => {
    const asked = new Set<string>();
    for (const file of sources(dirname(fileURLToPath(import.meta.url)))) {
      for (const m of readFileSync(file, "utf8").matchAll(/\bt\("(\w+)"/g)) asked.add(m[1]);
    }
    expect(asked.size).toBeGreaterThan(100);
    const missing = [...asked].filter((k) => !(k in dictionaries.en));
    expect(missing).toEqual([]);
  });
});
