#!/usr/bin/env bash
# A throw-away PostgreSQL server for shared Optuna studies (islr.tune) and their tests.
#
# Usage: scripts/postgres.sh start [DIR]   initialise a cluster in DIR (default: a new temporary folder), start it on
#                                         127.0.0.1 on a free port and print its SQLAlchemy URL on the last line
#        scripts/postgres.sh stop DIR      stop that server and delete DIR
#
# Installs Debian's `postgresql` package first when no server binaries are found (needs root and apt-get). PostgreSQL
# refuses to run as root: as root the cluster belongs to the `postgres` system user. Durability is off (fsync,
# synchronous_commit): the data is disposable by design. Authentication is `trust` on 127.0.0.1 only.
set -euo pipefail

log() { echo "[postgres] $*" >&2; }

find_bindir() {
  local initdb
  if initdb="$(command -v initdb 2>/dev/null)"; then
    dirname "$(readlink -f "$initdb")"
    return 0
  fi
  # Debian keeps the server binaries off PATH, one folder per major version: take the newest.
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

install_server() {
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    log "no PostgreSQL server found and cannot install one (needs root and apt-get)"
    exit 1
  fi
  log "installing postgresql with apt-get"
  apt-get update -qq >&2
  # The package's own "main" cluster may fail to start without an init system; we never use it.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Run a server binary as the cluster owner (the current user, or `postgres` when we are root).
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start() {
  local dir="${1:-}"
  local bindir
  bindir="$(find_bindir || true)"
  if [ -z "$bindir" ]; then
    install_server
    bindir="$(find_bindir)"
  fi
  if [ -z "$dir" ]; then
    dir="$(mktemp -d -t islr-pg.XXXXXX)"
  fi
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [ -e "$dir/data" ]; then
    log "$dir/data already exists: give an empty or new folder"
    exit 1
  fi
  touch "$dir/.islr-postgres"
  if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres: "$dir"
  fi
  as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
  }
  local port attempt
  # A free port can be taken between the probe and the server's bind: try a few.
  for attempt in 1 2 3 4 5; do
    port="$(free_port)"
    if as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off \
          -c full_page_writes=off -c max_connections=200" start >&2; then
      local url="postgresql+psycopg2://postgres@127.0.0.1:$port/postgres"
      echo "$url" >"$dir/url"
      log "server up in $dir (stop: scripts/postgres.sh stop $dir)"
      echo "$url"
      return 0
    fi
    log "start on port $port failed (attempt $attempt)"
    tail -n 5 "$dir/server.log" >&2 || true
  done
  exit 1
}

stop() {
  local dir="${1:?usage: scripts/postgres.sh stop DIR}"
  if [ ! -e "$dir/.islr-postgres" ]; then
    log "$dir was not made by scripts/postgres.sh start: not touching it"
    exit 1
  fi
  local bindir
  bindir="$(find_bindir)"
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  *)
    echo "usage: scripts/postgres.sh start [DIR] | stop DIR" >&2
    exit 2
    ;;
esac
