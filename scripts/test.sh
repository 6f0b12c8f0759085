#!/usr/bin/env bash
# The whole test suite: `cargo test`, the browser tests (tests/browser.rs, after
# scripts/browser/setup.sh has made sure Chromium is there), then the Spark smoke test
# (scripts/spark/smoke_test.py), after scripts/spark/setup.sh has made sure Java 17 and a venv
# with pyspark are there.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test
# report.html in headless Chromium (installed from Debian's packages when missing); the
# screenshots stay under target/browser/ as artifacts.
scripts/browser/setup.sh
cargo test --test browser -- --ignored
scripts/spark/setup.sh
target="${CARGO_TARGET_DIR:-target}"
log="$(mktemp)"
# Spark logs every deliberately failed attempt with its stack trace: shown only on failure.
if PYSPARK_PYTHON="$PWD/scripts/.venv/bin/python" SPARK_LOCAL_IP=127.0.0.1 \
    scripts/.venv/bin/python scripts/spark/smoke_test.py --bin "$target/debug/tala-bulk" \
    >"$log" 2>&1; then
    grep "^spark smoke test" "$log"
    rm -f "$log"
else
    tail -n 80 "$log"
    echo "the Spark smoke test failed (full log: $log)" >&2
    exit 1
fi
