#!/usr/bin/env bash
# Bounded fuzzing of the CSV scanner and the AuditData extractor (cargo-fuzz, nightly
# toolchain), seeded from testdata/. Crashes land in scripts/fuzz/artifacts/; turn each into a
# regression test.   scripts/fuzz.sh [SECONDS per target, default 60]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
corpus=scripts/fuzz/corpus
mkdir -p "$corpus/csvscan" "$corpus/auditdata"
find testdata -name '*.csv' -size -200k -exec cp {} "$corpus/csvscan/" \;
# AuditData seeds: the JSON of the fixtures' rows.
python3 - "$corpus/auditdata" <<'PY'
import csv, glob, hashlib, sys
for path in glob.glob('testdata/fixtures/**/*.csv', recursive=True):
    with open(path, newline='', encoding='utf-8', errors='replace') as f:
        rows = list(csv.reader(f))
    if not rows: continue
    cols = [c.strip().lower() for c in rows[0]]
    if 'auditdata' not in cols: continue
    i = cols.index('auditdata')
    for row in rows[1:]:
        if len(row) > i:
            data = row[i].encode()
            open(f'{sys.argv[1]}/{hashlib.sha1(data).hexdigest()}', 'wb').write(data)
PY
for target in csvscan auditdata; do
    cargo +nightly fuzz run --fuzz-dir scripts/fuzz "$target" "$corpus/$target" -- \
        -max_total_time="$secs" -max_len=65536 -rss_limit_mb=4096
done
