// The console in a real browser (Debian's Chromium, driven by playwright-core) against a real
// standalone Nacre. Each test does what a person does, then checks the outcome through the API.
// Screenshots of the main pages go to console/test-results/.

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { browser, get, Nacre, outDir, page, post, shot, waitFor } from "./harness.mjs";

const SECRET = "an-e2e-secret-that-is-long-enough-for-hs256-0123456789";

let n;
let b;
let p;
const pageErrors = [];

async function open(hash) {
  await p.goto(`${n.base}/nacos/#${hash}`);
}

/** A full load of the page (a new hash alone does not reload it). */
async function reload(hash) {
  await open(hash);
  await p.reload();
}

async function config(dataId, group = "DEFAULT_GROUP", tenant = "") {
  return get(n, "/nacos/v1/cs/configs", { dataId, group, tenant });
}

async function editorText(text) {
  const content = p.locator(".cm-content");
  await content.waitFor();
  await content.click();
  await p.keyboard.press("Control+A");
  await p.keyboard.press("Delete");
  await content.fill(text);
}

before(async () => {
  n = await Nacre.start();
  b = await browser();
  p = await page(b, n.base);
  p.on("pageerror", (e) => pageErrors.push(e.message));
});

after(async () => {
  await b?.close();
  await n?.stop();
});

describe("configuration", () => {
  test("a config published through the console is what the API reads", async () => {
    await open("/configs");
    await p.getByRole("link", { name: "Create" }).click();
    await p.locator("input[name=dataId]").fill("app.yaml");
    await editorText("port: 8080\nname: demo");
    await p.getByRole("button", { name: "Review and publish" }).click();
    const review = p.getByRole("dialog", { name: "Review and publish" });
    await review.getByText("+2").waitFor();
    await shot(p, "config-review");
    await review.getByRole("button", { name: "Publish" }).click();
    await p.getByRole("status").filter({ hasText: "Published" }).waitFor();
    const read = await config("app.yaml");
    assert.deepEqual(read, { status: 200, body: "port: 8080\nname: demo" });
    const detail = JSON.parse((await get(n, "/nacos/v1/cs/configs", { dataId: "app.yaml", group: "DEFAULT_GROUP", show: "all" })).body);
    assert.equal(detail.type, "yaml", "the type follows the dataId's extension");
    await open("/configs");
    await p.getByRole("link", { name: "app.yaml" }).first().waitFor();
    await shot(p, "configs");
  });

  test("a concurrent change is shown as a conflict with its diff, never overwritten", async () => {
    await open("/configs/edit?ns=public&group=DEFAULT_GROUP&dataId=app.yaml");
    await p.locator(".cm-content").getByText("port: 8080").waitFor();
    await editorText("port: 9000\nname: demo");
    // Someone else publishes meanwhile.
    assert.equal((await post(n, "/nacos/v1/cs/configs", { dataId: "app.yaml", group: "DEFAULT_GROUP", content: "port: 7000\nname: demo", type: "yaml" })).body, "true");
    await p.getByRole("button", { name: "Review and publish" }).click();
    await p.getByRole("dialog", { name: "Review and publish" }).getByRole("button", { name: "Publish" }).click();
    const conflict = p.getByRole("dialog", { name: /Conflict/ });
    await conflict.waitFor();
    await conflict.getByLabel("Their change").getByText("port: 7000").waitFor();
    await shot(p, "config-conflict");
    assert.equal((await config("app.yaml")).body, "port: 7000\nname: demo", "their change stays");
    await conflict.getByRole("button", { name: "Publish mine over theirs" }).click();
    await p.getByRole("status").filter({ hasText: "Published" }).waitFor();
    assert.equal((await config("app.yaml")).body, "port: 9000\nname: demo");
  });

  test("history shows each change against the one before, and rolls one back", async () => {
    await open("/configs/history?ns=public&group=DEFAULT_GROUP&dataId=app.yaml");
    const rows = p.getByRole("table", { name: "History" }).locator("tbody tr");
    await rows.first().waitFor();
    assert.equal(await rows.count(), 3, "create, their update, my update");
    await rows.first().getByRole("button", { name: "Show diff" }).click();
    const diff = p.getByLabel(/^Change \d+$/);
    await diff.getByText("port: 7000").waitFor();
    const added = await diff.locator("tr.add").allInnerTexts();
    const removed = await diff.locator("tr.del").allInnerTexts();
    assert.ok(added.some((l) => l.includes("port: 9000")), added.join("|"));
    assert.ok(removed.some((l) => l.includes("port: 7000")), removed.join("|"));
    await shot(p, "config-history");
    await rows.first().getByRole("button", { name: "Roll back" }).click();
    await p.getByRole("status").filter({ hasText: "rolled back" }).waitFor();
    assert.equal((await config("app.yaml")).body, "port: 7000\nname: demo");
  });

  test("search matches substrings, * patterns and content", async () => {
    for (const id of ["orders-db.properties", "orders-cache.json", "billing.yaml"]) {
      await post(n, "/nacos/v1/cs/configs", { dataId: id, group: "SHOP", content: `owner=${id.split(".")[0]}` });
    }
    await open("/configs");
    const names = () => p.getByRole("table", { name: "Configuration" }).locator("tbody tr td:nth-child(2)").allInnerTexts();
    await p.locator("input[name=dataId]").fill("orders");
    await waitFor("substring results", async () => (await names()).sort().join() === "orders-cache.json,orders-db.properties");
    await p.locator("input[name=dataId]").fill("*.json");
    await waitFor("pattern results", async () => (await names()).join() === "orders-cache.json");
    await p.locator("input[name=dataId]").fill("");
    await p.locator("input[name=content]").fill("owner=billing");
    await waitFor("content results", async () => (await names()).join() === "billing.yaml");
  });
});

describe("configuration across namespaces", () => {
  test("configs cloned to another namespace, exported as a ZIP and imported back", async () => {
    assert.equal((await post(n, "/nacos/v1/console/namespaces", { customNamespaceId: "staging", namespaceName: "Staging" })).body, "true");
    await reload("/configs");
    await p.locator("input[name=dataId]").fill("orders");
    const table = p.getByRole("table", { name: "Configuration" });
    await waitFor("two orders configs", async () => (await table.locator("tbody tr").count()) === 2);
    await p.getByRole("checkbox", { name: "Select all" }).check();
    await p.getByRole("button", { name: "Clone to namespace…" }).click();
    const dialog = p.getByRole("dialog", { name: "Clone to namespace…" });
    await dialog.locator("select").selectOption("staging");
    await dialog.getByRole("button", { name: "Clone", exact: true }).click();
    await dialog.getByText("SHOP/orders-db.properties: cloned").waitFor();
    assert.deepEqual(await config("orders-db.properties", "SHOP", "staging"), { status: 200, body: "owner=orders-db" });
    await dialog.getByRole("button", { name: "Close" }).click();

    const [download] = await Promise.all([p.waitForEvent("download"), p.getByRole("button", { name: "Export 2 selected" }).click()]);
    const zip = join(outDir, "configs.zip");
    await download.saveAs(zip);
    assert.equal(readFileSync(zip).subarray(0, 2).toString(), "PK");
    await post(n, "/nacos/v1/cs/configs", { dataId: "orders-db.properties", group: "SHOP", content: "changed" });
    await p.getByRole("button", { name: "Import" }).click();
    const importing = p.getByRole("dialog", { name: "Import" });
    await importing.locator("input[type=file]").setInputFiles(zip);
    await importing.getByText("Overwrite", { exact: true }).click();
    await importing.getByRole("button", { name: "Import" }).click();
    await importing.getByRole("status").filter({ hasText: "Imported 2, skipped 0, failed 0" }).waitFor();
    assert.equal((await config("orders-db.properties", "SHOP")).body, "owner=orders-db");
    await importing.getByRole("button", { name: "Close" }).click();

    await open("/configs/listeners?ns=public&group=SHOP&dataId=orders-db.properties");
    await p.getByText("Nobody listens to this config now.").waitFor();
    await shot(p, "config-listeners");
  });
});

describe("services", () => {
  test("an instance taken offline disappears from a healthy-only list", async () => {
    for (const ip of ["10.0.0.1", "10.0.0.2"]) {
      const r = await post(n, "/nacos/v1/ns/instance", { serviceName: "orders", ip, port: "8080", ephemeral: "false", metadata: "version=1" });
      assert.equal(r.body, "ok");
    }
    const healthy = async () =>
      JSON.parse((await get(n, "/nacos/v1/ns/instance/list", { serviceName: "orders", healthyOnly: "true" })).body).hosts.map((h) => h.ip);
    assert.deepEqual((await healthy()).sort(), ["10.0.0.1", "10.0.0.2"]);
    await open("/services");
    await p.getByRole("link", { name: "orders" }).first().click();
    const row = p.getByRole("row").filter({ hasText: "10.0.0.1" });
    await row.getByRole("button", { name: "Take offline" }).click();
    await row.getByRole("button", { name: "Bring online" }).waitFor();
    assert.deepEqual(await healthy(), ["10.0.0.2"]);
    await shot(p, "service-detail");
    await open("/services");
    await p.getByRole("table", { name: "Services" }).waitFor();
    await shot(p, "services");
  });
});

describe("consul", () => {
  test("a Consul service and its checks appear under Services (one registry)", async () => {
    const r = await fetch(`http://127.0.0.1:${n.consulPort}/v1/agent/service/register`, {
      method: "PUT",
      body: JSON.stringify({ Name: "web", ID: "web-1", Address: "10.1.0.1", Port: 80, Check: { Name: "alive", TTL: "30s" } }),
    });
    assert.equal(r.status, 200, await r.text());
    await reload("/services");
    const row = p.getByRole("row").filter({ hasText: "web" });
    await row.getByText("Consul").waitFor();
    await row.getByRole("link", { name: "web" }).click();
    // A TTL check starts critical, as Consul's do.
    await p.getByText("alive: critical").waitFor();
  });


  test("a KV edit is saved with check-and-set; a concurrent change is a conflict", async () => {
    const kv = (path, init) => fetch(`http://127.0.0.1:${n.consulPort}/v1/kv/${path}`, init);
    assert.equal(await (await kv("app/config", { method: "PUT", body: "v1" })).text(), "true");
    await open("/kv?prefix=app/&key=app/config");
    const value = p.locator("textarea[name=value]");
    await waitFor("the value", async () => (await value.inputValue()) === "v1");
    await value.fill("v2");
    await p.locator("input[name=flags]").fill("42");
    await p.getByRole("button", { name: "Save" }).click();
    await p.getByRole("status").filter({ hasText: "Saved" }).waitFor();
    const [entry] = await (await kv("app/config")).json();
    assert.equal(Buffer.from(entry.Value, "base64").toString(), "v2");
    assert.equal(entry.Flags, 42);
    await shot(p, "kv");
    // Changed elsewhere after the page read it: the save is refused and shown.
    await kv("app/config", { method: "PUT", body: "v3" });
    await value.fill("v4");
    await p.getByRole("button", { name: "Save" }).click();
    await p.getByRole("dialog", { name: /Conflict/ }).waitFor();
    const [still] = await (await kv("app/config")).json();
    assert.equal(Buffer.from(still.Value, "base64").toString(), "v3");
  });
});

describe("packages", () => {
  test("an upload with progress and checksum, then a download of the same bytes", async () => {
    const bytes = randomBytes(300 * 1024);
    const sha = createHash("sha256").update(bytes).digest("hex");
    const file = join(outDir, "agent.tar.gz");
    writeFileSync(file, bytes);
    await open("/packages");
    await p.getByRole("button", { name: "Upload" }).click();
    const dialog = p.getByRole("dialog", { name: "Upload" });
    await dialog.locator("input[type=file]").setInputFiles(file);
    await dialog.locator("input[name=object]").fill("fusion-agent");
    await dialog.locator("input[name=version]").fill("1.2.0");
    await dialog.getByRole("button", { name: "Upload" }).click();
    await p.getByRole("table", { name: "Packages" }).getByText("fusion-agent").waitFor();
    const listed = JSON.parse((await get(n, "/nacre/v1/packages", { object: "fusion-agent" })).body);
    assert.equal(listed.packages[0].sha256, sha);
    await shot(p, "packages");
    const [download] = await Promise.all([p.waitForEvent("download"), p.getByRole("link", { name: "Download" }).click()]);
    const saved = join(outDir, "downloaded.bin");
    await download.saveAs(saved);
    assert.equal(createHash("sha256").update(readFileSync(saved)).digest("hex"), sha);
  });
});

describe("what only Nacre shows", () => {
  test("the live feed shows a change made through the API within a second", async () => {
    await open("/events");
    await p.getByRole("status").filter({ hasText: "live" }).waitFor();
    const started = Date.now();
    assert.equal((await post(n, "/nacos/v1/cs/configs", { dataId: "feed.txt", group: "DEFAULT_GROUP", content: "hello" })).body, "true");
    await p.getByRole("table", { name: "Live events" }).getByRole("link", { name: "feed.txt" }).waitFor({ timeout: 1000 });
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 1000, `${elapsed} ms`);
    await shot(p, "events");
  });

  test("time travel shows an old version and the diff to now", async () => {
    const timeline = JSON.parse((await get(n, "/nacre/v1/timeline", { kind: "config", group: "DEFAULT_GROUP", dataId: "app.yaml" })).body);
    const first = timeline.items[timeline.items.length - 1].seq;
    await open(`/travel?kind=config&ns=public&group=DEFAULT_GROUP&dataId=app.yaml&a=${first}`);
    await p.getByLabel("Point A").filter({ hasText: "port: 8080" }).waitFor();
    await p.getByLabel("Point B").filter({ hasText: "port: 7000" }).waitFor();
    await p.getByLabel("From A to B").locator("tr.add").filter({ hasText: "port: 7000" }).waitFor();
    await shot(p, "travel");
    await open(`/events/${first}`);
    await p.getByText("nacre.config.published.v1").first().waitFor();
    await shot(p, "event");
  });

  test("the cluster page shows this node, its applied sequence and the stream", async () => {
    await open("/cluster");
    const nodes = p.getByRole("table", { name: "Nodes" });
    await nodes.getByText(`e2e-${n.port}`).waitFor();
    await p.getByText("NACRE_EVENTS").waitFor();
    await shot(p, "cluster");
  });
});

describe("for people", () => {
  test("no page breaks on an empty namespace or a 100 KiB config", async () => {
    assert.equal((await post(n, "/nacos/v1/console/namespaces", { customNamespaceId: "empty", namespaceName: "Empty" })).body, "true");
    const big = "key: " + "x".repeat(100 * 1024 - 10) + "\n";
    assert.equal((await post(n, "/nacos/v1/cs/configs", { dataId: "big.yaml", group: "DEFAULT_GROUP", content: big, type: "yaml" })).body, "true");
    await p.evaluate(() => localStorage.setItem("nacre.ns", "empty"));
    await reload("/configs");
    assert.equal(await p.getByRole("combobox", { name: "Namespace" }).inputValue(), "empty");
    for (const hash of ["/configs", "/services", "/kv", "/packages", "/events", "/travel", "/cluster", "/access"]) {
      await open(hash);
      await p.locator("main h1").first().waitFor();
      assert.equal(await p.locator(".error").count(), 0, `an error on ${hash}: ${await p.locator(".error").allInnerTexts()}`);
    }
    await p.evaluate(() => localStorage.setItem("nacre.ns", "public"));
    await reload("/configs/edit?ns=public&group=DEFAULT_GROUP&dataId=big.yaml");
    await p.getByText("100.0 KiB / 100.0 KiB").waitFor();
    await open("/configs/history?ns=public&group=DEFAULT_GROUP&dataId=big.yaml");
    await p.getByRole("button", { name: "Show diff" }).click();
    await p.getByLabel(/^Change \d+$/).getByText("+1", { exact: true }).waitFor();
    assert.deepEqual(pageErrors, []);
  });

  test("Chinese and dark mode", async () => {
    await p.evaluate(() => {
      localStorage.setItem("nacre.lang", "zh");
      localStorage.setItem("nacre.theme", "dark");
    });
    await reload("/configs/edit?ns=public&group=DEFAULT_GROUP&dataId=app.yaml");
    await p.getByRole("button", { name: "检查并发布" }).waitFor();
    assert.equal(await p.evaluate(() => document.documentElement.dataset.theme), "dark");
    await shot(p, "config-edit-zh-dark");
    await p.evaluate(() => {
      localStorage.setItem("nacre.lang", "en");
      localStorage.setItem("nacre.theme", "light");
    });
    await reload("/configs");
  });

  test("first page: transfer size and time to interactive", async () => {
    await post(n, "/nacos/v1/cs/configs", { dataId: "first-page.yaml", group: "DEFAULT_GROUP", content: "a: 1" });
    const fresh = await page(b, n.base);
    const sizes = [];
    fresh.on("requestfinished", async (request) => {
      const s = await request.sizes().catch(() => null);
      if (s) sizes.push({ url: request.url(), bytes: s.responseBodySize + s.responseHeadersSize });
    });
    await fresh.goto(`${n.base}/nacos/#/configs`);
    await fresh.locator("input[name=dataId]").waitFor();
    await fresh.getByRole("table", { name: "Configuration" }).waitFor();
    const interactive = await fresh.evaluate(() => Math.round(performance.now()));
    await fresh.waitForLoadState("networkidle");
    // The same files fetched with gzip only, as the budget counts them.
    const files = sizes.filter((s) => !s.url.includes("/nacos/v1/") && !s.url.includes("/nacre/v1/"));
    let gzip = 0;
    for (const f of files) {
      // Node's fetch would inflate the body: count what the server sends.
      const r = await fetch(f.url, { headers: { "Accept-Encoding": "gzip" } });
      assert.match(r.headers.get("content-encoding") ?? "", /gzip/, f.url);
      gzip += Number(r.headers.get("content-length"));
      await r.arrayBuffer();
    }
    const transferred = sizes.reduce((sum, s) => sum + s.bytes, 0);
    const report = { files: files.map((f) => f.url.replace(n.base, "")), gzipBytes: gzip, transferredBytes: transferred, timeToInteractiveMs: interactive };
    writeFileSync(join(outDir, "first-page.json"), JSON.stringify(report, null, 2));
    console.log("first page:", JSON.stringify(report));
    assert.ok(gzip < 300 * 1024, `first page is ${gzip} bytes gzipped`);
    assert.ok(!files.some((f) => f.url.includes("editor")), "the editor is not on the first page");
    await fresh.context().close();
  });
});

describe("access control", () => {
  test("login with auth on; the API's refusal is shown as it is", async () => {
    const secured = await Nacre.start({ NACRE_AUTH_ENABLED: "true", NACRE_AUTH_TOKEN_SECRET: SECRET });
    try {
      const init = await post(secured, "/nacos/v1/auth/users/admin", { password: "console-admin-1" });
      assert.equal(init.status, 200, init.body);
      const q = await page(b, secured.base);
      await q.goto(`${secured.base}/nacos/#/configs`);
      const form = q.getByRole("form", { name: "Log in" });
      await form.waitFor();
      await shot(q, "login");
      await form.locator("input[name=username]").fill("nacos");
      await form.locator("input[name=password]").fill("wrong-password");
      await form.getByRole("button", { name: "Log in" }).click();
      await q.getByRole("alert").waitFor();
      assert.ok((await q.getByRole("alert").innerText()).length > 0);
      await form.locator("input[name=password]").fill("console-admin-1");
      await form.getByRole("button", { name: "Log in" }).click();
      await q.getByRole("heading", { name: "Configuration" }).waitFor();
      await q.getByRole("link", { name: "Access" }).click();
      await q.getByRole("heading", { name: "Users" }).waitFor();
      await q.getByText("nacos").first().waitFor();
      await shot(q, "access");
      // What the console saw came through a token: anonymous callers are still refused.
      assert.equal((await get(secured, "/nacre/v1/cluster")).status, 403);
      await q.context().close();
    } finally {
      await secured.stop();
    }
  });
});
