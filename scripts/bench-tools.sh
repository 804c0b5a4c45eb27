#!/usr/bin/env bash
# The load generator bench/api.py drives gunicorn with: wrk. Installed from Debian's package when
# we can (root with apt-get); otherwise stop with a message saying how to get it.
set -euo pipefail

if command -v wrk >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing wrk"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  fi
  command -v wrk >/dev/null 2>&1 && exit 0
fi
echo "error: wrk is not installed and cannot be installed here; install it (Debian/Ubuntu:" \
  "sudo apt-get install wrk; macOS: brew install wrk) to run bench/api.py" >&2
exit 1
