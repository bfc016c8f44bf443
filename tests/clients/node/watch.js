// The npm `consul` package (2.x), unmodified, against Nacre's Consul API: `consul.watch` on a
// key (existing, changed, deleted, and one created later) and on a service's passing health.
// Usage: node watch.js HOST PORT. Exits 1 with the failed expectation on any mismatch.
"use strict";

const assert = require("node:assert/strict");
const Consul = require("consul");

const [host, port] = process.argv.slice(2);
const consul = new Consul({ host, port: Number(port) });

/** A watch whose 'change' events arrive in a queue; any 'error' fails the run. */
function watch(method, options) {
  const w = consul.watch({ method, options, backoffFactor: 100 });
  const queue = [];
  const waiters = [];
  w.on("change", (data) => {
    const waiter = waiters.shift();
    if (waiter) waiter(data);
    else queue.push(data);
  });
  w.on("error", (err) => {
    console.log(`FAILED: the watch reported an error: ${err.stack || err}`);
    process.exit(1);
  });
  return {
    w,
    next(what, ms = 10000) {
      if (queue.length) return Promise.resolve(queue.shift());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
        waiters.push((data) => {
          clearTimeout(timer);
          resolve(data);
        });
      });
    },
    /** Skips events until one satisfies `want`. */
    async until(what, want) {
      const deadline = Date.now() + 10000;
      const seen = [];
      for (;;) {
        const data = await this.next(what, Math.max(1, deadline - Date.now())).catch((e) => {
          throw new Error(`${e.message}; saw ${JSON.stringify(seen)}`);
        });
        if (want(data)) return data;
        seen.push(data);
      }
    },
  };
}

const value = (entry) => (entry === undefined ? undefined : entry.Value);

async function keys() {
  await consul.kv.set("node/watched", "v1");
  const existing = watch(consul.kv.get, { key: "node/watched" });
  assert.equal(value(await existing.next("the key's current value")), "v1");
  await consul.kv.set("node/watched", "v2");
  assert.equal(value(await existing.until("the change to v2", (e) => value(e) === "v2")), "v2");
  await consul.kv.set("node/watched", "v3");
  await existing.until("the change to v3", (e) => value(e) === "v3");
  await consul.kv.del("node/watched");
  await existing.until("the deletion", (e) => e === undefined);
  existing.w.end();

  // A key that does not exist yet: the watch starts on a 404 and sees it created.
  const later = watch(consul.kv.get, { key: "node/later" });
  assert.equal(await later.next("the missing key"), undefined);
  await consul.kv.set("node/later", "here");
  assert.equal(value(await later.until("the key's creation", (e) => value(e) === "here")), "here");
  later.w.end();
}

async function health() {
  await consul.agent.service.register({
    name: "node-web",
    id: "node-web-1",
    address: "127.0.0.1",
    port: 3000,
    check: { ttl: "30s" },
  });
  const passing = watch(consul.health.service, { service: "node-web", passing: true });
  const ids = (entries) => (entries || []).map((e) => e.Service.ID);
  assert.deepEqual(ids(await passing.next("the service's health")), [], "a TTL check starts critical");
  await consul.agent.check.pass({ id: "service:node-web-1", note: "up" });
  await passing.until("the service passing", (e) => ids(e).length === 1);
  await consul.agent.check.fail({ id: "service:node-web-1", note: "down" });
  await passing.until("the service failing", (e) => ids(e).length === 0);
  await consul.agent.check.pass("service:node-web-1");
  await passing.until("the service passing again", (e) => ids(e).length === 1);
  await consul.agent.service.deregister("node-web-1");
  await passing.until("the service gone", (e) => ids(e).length === 0);
  passing.w.end();
}

(async () => {
  await keys();
  await health();
  console.log("npm consul watch acceptance: ok");
  process.exit(0);
})().catch((e) => {
  console.log(`FAILED: ${e.stack || e}`);
  process.exit(1);
});
