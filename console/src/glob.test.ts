import { describe, expect, test } from "vitest";
import { filterByPattern, globMatch, highlight } from "./glob";
import { pointQuery } from "./points";
import { Sha256 } from "./sha256";

describe("patterns, as the server's config search reads them", () => {
  test("without * a pattern is a substring; with * the whole value must match", () => {
    expect(globMatch("order", "orders-db.yaml")).toBe(true);
    expect(globMatch("*.yaml", "orders-db.yaml")).toBe(true);
    expect(globMatch("*.yaml", "orders.yaml.bak")).toBe(false);
    expect(globMatch("orders*", "my-orders")).toBe(false);
    expect(globMatch("o*d*.yaml", "orders-db.yaml")).toBe(true);
    expect(globMatch("a*a", "a")).toBe(false);
    expect(globMatch("*", "")).toBe(true);
    expect(globMatch("", "anything")).toBe(true);
  });

  test("highlighting marks what matched", () => {
    expect(highlight("db", "orders-db.yaml")).toEqual([
      { text: "orders-", hit: false },
      { text: "db", hit: true },
      { text: ".yaml", hit: false },
    ]);
    expect(highlight("ord*.yaml", "orders.yaml").filter((p) => p.hit).map((p) => p.text)).toEqual(["ord", ".yaml"]);
    expect(highlight("zzz", "orders")).toEqual([{ text: "orders", hit: false }]);
  });

  test("filtering keeps the matching items", () => {
    const keys = ["app/db", "app/cache", "web/db"];
    expect(filterByPattern(keys, "db", (k) => k)).toEqual(["app/db", "web/db"]);
    expect(filterByPattern(keys, "app/*", (k) => k)).toEqual(["app/db", "app/cache"]);
    expect(filterByPattern(keys, "  ", (k) => k)).toEqual(keys);
  });
});

describe("time travel points", () => {
  test("a number is a sequence, a date and time is a moment", () => {
    expect(pointQuery("42")).toEqual({ seq: "42" });
    expect(pointQuery("#42")).toEqual({ seq: "42" });
    expect(pointQuery("1795698764576")).toEqual({ time: "1795698764576" });
    expect(pointQuery("2026-11-26 13:05")).toEqual({ time: String(new Date(2026, 10, 26, 13, 5).getTime()) });
    expect(pointQuery("2026-11-26T13:05:00Z")).toEqual({ time: String(Date.UTC(2026, 10, 26, 13, 5)) });
    expect(pointQuery("yesterday")).toEqual({ time: "yesterday" });
  });
});

describe("sha256", () => {
  const hex = (s: string | Uint8Array, chunk = 7) => {
    const bytes = typeof s === "string" ? new TextEncoder().encode(s) : s;
    const h = new Sha256();
    for (let i = 0; i < bytes.length; i += chunk) h.update(bytes.subarray(i, i + chunk));
    return h.hex();
  };

  test("the standard vectors, fed in pieces", () => {
    expect(hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 64)).toBe(
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    );
    expect(hex(new Uint8Array(1_000_000).fill(0x61), 4096)).toBe("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  });
});
