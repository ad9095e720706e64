#!/usr/bin/env bash
# Ensures a local PostgreSQL server (>= 15) plus psql/pgbench/openssl are installed
# and that the `postgres` OS user exists, so tests can start throwaway servers.
# Idempotent: when everything is already present it only does a few stat calls.
# Debian's postgresql package auto-creates (and may start) a "main" cluster on
# port 5432; Canopy never uses it, and its state does not matter here.
set -euo pipefail

MIN_MAJOR=15

log() { echo "ensure-postgres: $*" >&2; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Prints the newest PostgreSQL major version that has initdb and pg_ctl, or nothing.
newest_server_major() {
  local best="" dir ver
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] || continue
    ver="$(basename "$(dirname "$dir")")"
    [[ "$ver" =~ ^[0-9]+$ ]] || continue
    if [ -z "$best" ] || [ "$ver" -gt "$best" ]; then best="$ver"; fi
  done
  echo "$best"
}

have_tool() {
  command -v "$1" >/dev/null 2>&1 && return 0
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/$1" ] && return 0
  done
  return 1
}

everything_present() {
  local major
  major="$(newest_server_major)"
  [ -n "$major" ] && [ "$major" -ge "$MIN_MAJOR" ] \
    && have_tool psql && have_tool pgbench && command -v openssl >/dev/null 2>&1
}

if ! everything_present; then
  if ! is_root; then
    log "PostgreSQL >= $MIN_MAJOR server binaries (initdb, pg_ctl), psql, pgbench or openssl are missing"
    log "and we are not root, so they cannot be installed automatically."
    log "Install them, e.g.: sudo apt-get install -y postgresql postgresql-contrib postgresql-client openssl"
    exit 1
  fi
  log "installing PostgreSQL packages via apt-get..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y postgresql postgresql-contrib postgresql-client openssl
  if ! everything_present; then
    log "PostgreSQL >= $MIN_MAJOR is still not available after apt-get install"
    log "(found major version: '$(newest_server_major)'); cannot continue."
    exit 1
  fi
fi

# The server refuses to run as root, so tests running as root need a postgres OS user.
if ! id -u postgres >/dev/null 2>&1; then
  if ! is_root; then
    log "the 'postgres' OS user does not exist and we are not root; tests running as"
    log "the current user will still work, but servers cannot be started as root."
  else
    log "creating the 'postgres' OS user"
    mkdir -p /var/lib/postgresql
    if command -v adduser >/dev/null 2>&1; then
      adduser --system --group --home /var/lib/postgresql --no-create-home \
        --shell /bin/bash postgres >/dev/null
    else
      groupadd --system postgres 2>/dev/null || true
      useradd --system --gid postgres --home-dir /var/lib/postgresql \
        --shell /bin/bash postgres
    fi
    chown postgres:postgres /var/lib/postgresql
  fi
fi

exit 0
