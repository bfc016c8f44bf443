// End-to-end harness: a real standalone Nacre (its own nats-server child, a temporary data
// directory, free ports) and Debian's Chromium driven by playwright-core.

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, "../..");
export const outDir = resolve(here, "../test-results");
mkdirSync(outDir, { recursive: true });

export function nacreBinary() {
  const bin = process.env.NACRE_BIN ?? join(repo, "target/debug/nacre");
  if (!existsSync(bin)) throw new Error(`no nacre binary at ${bin}: run cargo build (or set NACRE_BIN)`);
  return bin;
}

export function natsBinary() {
  if (process.env.NACRE_NATS_STANDALONE_BINARY) return process.env.NACRE_NATS_STANDALONE_BINARY;
  const version = readFileSync(join(repo, "NATS_VERSION"), "utf8").trim();
  const installed = join(repo, `.tools/nats-server-${version}/nats-server`);
  if (!existsSync(installed)) throw new Error("no nats-server: run `make nats-server`");
  return installed;
}

function bindable(port) {
  return new Promise((done) => {
    const server = createServer();
    server.once("error", () => done(false));
    server.listen(port, "127.0.0.1", () => server.close(() => done(true)));
  });
}

let counter = 0;
/** A port below the ephemeral range whose gRPC neighbour (+1000) is free too. */
async function freePort() {
  for (;;) {
    const port = 20000 + ((process.pid * 7919 + counter++ * 131) % 10000);
    if ((await bindable(port)) && (await bindable(port + 1000))) return port;
  }
}

async function waitFor(what, check, ms = 60000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export class Nacre {
  static async start(env = {}) {
    const n = new Nacre();
    n.dir = mkdtempSync(join(tmpdir(), "nacre-e2e-"));
    n.port = await freePort();
    n.consulPort = await freePort();
    n.base = `http://127.0.0.1:${n.port}`;
    n.child = spawn(
      nacreBinary(),
      ["serve", "--data-dir", n.dir, "--port", String(n.port), "--consul-port", String(n.consulPort), "--config", join(repo, "conf/application.yml")],
      {
        env: { ...process.env, NACRE_NATS_STANDALONE_BINARY: natsBinary(), NACRE_NODE_NAME: `e2e-${n.port}`, RUST_LOG: "warn", ...env },
        stdio: ["ignore", "inherit", "inherit"],
      },
    );
    n.exited = new Promise((r) => n.child.once("exit", r));
    await waitFor("nacre readiness", async () => (await fetch(`${n.base}/nacos/v1/console/health/readiness`)).ok);
    return n;
  }

  url(path) {
    return this.base + path;
  }

  async stop() {
    if (this.child.exitCode === null) {
      this.child.kill("SIGTERM");
      await Promise.race([this.exited, new Promise((r) => setTimeout(r, 20000))]);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Debian's Chromium, headless, with no network of its own (the flags the machine notes list;
 * playwright gives every launch a new empty profile).
 */
export async function browser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

export async function page(b, base, { lang = "en" } = {}) {
  const context = await b.newContext({ viewport: { width: 1366, height: 860 }, locale: lang === "zh" ? "zh-CN" : "en-US" });
  await context.addInitScript((l) => {
    if (!localStorage.getItem("nacre.lang")) localStorage.setItem("nacre.lang", l);
  }, lang);
  const p = await context.newPage();
  p.on("dialog", (d) => d.accept());
  p.base = base;
  return p;
}

export async function shot(p, name) {
  await p.screenshot({ path: join(outDir, `${name}.png`), fullPage: true });
}

/** Form POST to Nacre (the Nacos v1 API). */
export async function post(n, path, form, token) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const r = await fetch(n.url(path), { method: "POST", body: new URLSearchParams(form), headers });
  return { status: r.status, body: await r.text() };
}

export async function get(n, path, query = {}, token) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const r = await fetch(n.url(path) + "?" + new URLSearchParams(query), { headers });
  return { status: r.status, body: await r.text() };
}

export { waitFor };
