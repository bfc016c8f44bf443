// After `vite build`: precompress every built file (.br and .gz beside it, embedded in the
// nacre binary with it) and record the hash of the sources the build came from, which a Rust
// test (src/console/assets.rs) recomputes to catch a stale console/dist.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { brotliCompressSync, gzipSync, constants } from "node:zlib";

const root = new URL("..", import.meta.url).pathname;
const dist = join(root, "dist");

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

export function sourceHash(consoleDir) {
  const list = ["index.html", "package.json", "package-lock.json", "vite.config.ts", "tsconfig.json"];
  for (const path of files(join(consoleDir, "src"))) {
    const rel = relative(consoleDir, path).split("\\").join("/");
    if (!rel.endsWith(".test.ts")) list.push(rel);
  }
  // Byte order, as Rust sorts strings.
  list.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const hash = createHash("sha256");
  for (const rel of list) {
    const digest = createHash("sha256").update(readFileSync(join(consoleDir, rel))).digest("hex");
    hash.update(`${rel}\n${digest}\n`);
  }
  return hash.digest("hex");
}

const main = process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop());
if (main && process.argv.includes("--check")) {
  // `make run`: is console/dist built from these sources?
  let recorded = "";
  try {
    recorded = readFileSync(join(dist, "source-hash.txt"), "utf8").trim();
  } catch {
    // no build at all
  }
  const fresh = recorded === sourceHash(root);
  if (!fresh) console.log("console/dist is older than the console's sources");
  process.exit(fresh ? 0 : 1);
} else if (main) {
  for (const path of files(dist)) {
    if (/\.(js|css|html|svg|json)$/.test(path)) {
      const raw = readFileSync(path);
      writeFileSync(`${path}.gz`, gzipSync(raw, { level: 9 }));
      writeFileSync(
        `${path}.br`,
        brotliCompressSync(raw, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }),
      );
    }
  }
  writeFileSync(join(dist, "source-hash.txt"), `${sourceHash(root)}\n`);
  console.log(`console/dist stamped: ${sourceHash(root)}`);
}
