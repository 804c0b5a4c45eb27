#!/usr/bin/env bash
# The browser tests drive Debian's Chromium through Playwright (Playwright's own browser download
# is not used). Install Chromium if it is missing.
set -euo pipefail
CHROMIUM=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Chromium for the browser tests"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "error: Chromium is not at $CHROMIUM and cannot be installed here; install Debian's chromium package or set CHROMIUM_PATH" >&2
    exit 1
  fi
fi
"$CHROMIUM" --version >/dev/null 2>&1 || { echo "error: $CHROMIUM does not run" >&2; exit 1; }
echo "Browser: $("$CHROMIUM" --version 2>/dev/null)"
