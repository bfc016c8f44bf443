#!/usr/bin/env bash
# Prepares compose/state/ for compose/standalone.yml and compose/cluster.yml; run it once before
# the first `docker compose up` (rerunning it changes nothing that exists). It makes:
#   state/identity, state/backups, state/nacre-{1,2}/identity
#       the bind mounts that outlive `docker compose down -v`, writable by the image's user
#       (65532, distroless' nonroot): chowned when run as root, else opened to everyone (the
#       state directory itself is 0700, so other users of this host still cannot reach them);
#   state/certs/   a development CA, a certificate per NATS server (nats-dc1..3, also valid for
#       localhost and 127.0.0.1; usable for routes and clients) and Nacre's client certificate;
#   state/nats.env, state/nacre.env   random passwords for the NACRE and READERS accounts
#       (nats/accounts.conf), and Nacre's copy of its own.
# Development certificates only: a production cluster takes its certificates from its own CA.
# Usage: compose/setup.sh [STATE_DIR]   (default: compose/state next to this script)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
state="${1:-$here/state}"
user=65532

umask 077
mkdir -p "$state"
chmod 0700 "$state"

for dir in identity backups nacre-1/identity nacre-2/identity; do
  mkdir -p "$state/$dir"
  if [ "$(id -u)" = 0 ]; then
    chown "$user:$user" "$state/$dir"
  else
    chmod 0777 "$state/$dir"
  fi
done

certs="$state/certs"
if [ ! -f "$certs/ca.pem" ]; then
  mkdir -p "$certs"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
    -subj "/CN=Nacre development CA" -keyout "$certs/ca-key.pem" -out "$certs/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
  # A leaf certificate signed by the CA, for servers and clients alike (routes are both).
  leaf() {
    local name="$1" san="$2"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
      -keyout "$certs/$name-key.pem" -out "$certs/$name.csr" 2>/dev/null
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n' \
      "$san" > "$certs/$name.ext"
    openssl x509 -req -in "$certs/$name.csr" -CA "$certs/ca.pem" -CAkey "$certs/ca-key.pem" \
      -set_serial "0x$(openssl rand -hex 16)" -days 825 -extfile "$certs/$name.ext" \
      -out "$certs/$name.pem" 2>/dev/null
    rm -f "$certs/$name.csr" "$certs/$name.ext"
  }
  for n in 1 2 3; do
    leaf "nats-dc$n" "DNS:nats-dc$n,DNS:localhost,IP:127.0.0.1"
  done
  leaf nacre "DNS:nacre"
  # The containers read these through their own mount; the state directory guards the host.
  chmod 0755 "$certs"
  chmod 0644 "$certs"/*.pem
  chmod 0600 "$certs/ca-key.pem"
fi

if [ ! -f "$state/nats.env" ]; then
  nacre_password="$(openssl rand -hex 24)"
  printf 'NATS_NACRE_PASSWORD=%s\nNATS_READER_PASSWORD=%s\n' \
    "$nacre_password" "$(openssl rand -hex 24)" > "$state/nats.env"
  printf 'NACRE_NATS_PASSWORD=%s\n' "$nacre_password" > "$state/nacre.env"
fi

echo "compose state ready in $state"
