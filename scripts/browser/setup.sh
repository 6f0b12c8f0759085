#!/usr/bin/env bash
# Makes sure the browser tests (tests/browser.rs) can run: Chromium, from Debian's packages when
# running as root on a machine without it. Idempotent and quiet when it is there. Then:
#   cargo test --test browser -- --ignored
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing chromium" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
    echo "setup: the browser tests need chromium: install it (or name it in \$CHROMIUM)" >&2
    exit 1
fi
