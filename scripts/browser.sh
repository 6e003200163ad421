#!/usr/bin/env bash
# Chromium and its chromedriver for the browser-page test (tests/test_web.py, `islr live --web`) and
# benchmarks/bench_web.py: installs Debian's `chromium` and `chromium-driver` when either is missing (needs root and
# apt-get), then prints both versions.
set -euo pipefail

log() { echo "[browser] $*" >&2; }

have() { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }

if ! have; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    log "chromium or chromedriver is missing and cannot be installed here (needs root and apt-get)"
    exit 1
  fi
  log "installing chromium and chromium-driver with apt-get"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >&2
fi
log "$(chromium --version 2>/dev/null); $(chromedriver --version 2>/dev/null | cut -d' ' -f1-2)"
