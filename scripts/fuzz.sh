#!/usr/bin/env bash
# Bounded fuzzing (cargo-fuzz, nightly toolchain), seeded from testdata/:
#   csvscan    the CSV scanner, whole and in pieces (fast path against csv-core)
#   auditdata  the AuditData extractor, and --audit-only's reader against the full parser
#   shapes     records read by their learned layouts against simd-json, one record a line
#   reader     any bytes as a file (CSV or JSON), plain and compressed, read fully and audit-only
#   usersdb    the users-database parser
#   sites      the building file (--sites), client IPs and the UserAgent rules
#   partial    any bytes as a partial-state file: refused or loaded, never a panic
# Crashes land in scripts/fuzz/artifacts/; turn each into a regression test.
#   scripts/fuzz.sh [SECONDS per target, default 60] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(csvscan auditdata shapes reader usersdb partial sites)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
corpus=scripts/fuzz/corpus
mkdir -p "$corpus/csvscan" "$corpus/auditdata" "$corpus/shapes" "$corpus/reader" "$corpus/usersdb" "$corpus/partial" \
    "$corpus/sites"
cp testdata/sites.tsv "$corpus/sites/"
find testdata -name '*.csv' -size -200k -exec cp {} "$corpus/csvscan/" \;
# The reader gets the small files of every kind, compressed ones included.
# (not no-line-end.csv.zst: 300 MB decoded, it would take most of the time of a short run)
find testdata/bad testdata/compressed testdata/fixtures -type f -size -64k \
    ! -name no-line-end.csv.zst -exec cp {} "$corpus/reader/" \;
# JSON seeds for the reader: an API blob, NDJSON, pretty-printed records, a cut array.
rec='{"CreationTime":"2024-03-01T09:00:00","Id":"a1","Operation":"MeetingParticipantDetail","MeetingDetailId":"m1","Attendees":[{"UserObjectId":"u1","RecipientType":"User"}],"JoinTime":"2024-03-01T08:00:00","LeaveTime":"2024-03-01T09:00:00","ClientIP":"1.2.3.4","DeviceInformation":"d"}'
printf '[%s,%s]' "$rec" "${rec/a1/a2}" > "$corpus/reader/blob.json"
printf '%s\n\n%s\n' "$rec" "${rec/a1/a3}" > "$corpus/reader/lines.ndjson"
printf '{\n  "Id": "a4",\n  "Operation": "x"\n}\n{"Id":"a5"}\n' > "$corpus/reader/pretty.ndjson"
printf '[%s,{"Id":' "$rec" > "$corpus/reader/cut.json"
printf 'u-1,ann@contoso.com\n\xef\xbb\xbfU-2, "b@x"\r\nnot a pair\n' > "$corpus/usersdb/seed"
# Partial seeds: the map partials of the fixtures (1 and 3 buckets), in the target's form
# with raw sections.
cargo build -q --release
seed="$(mktemp -d)"
for b in 1 3; do
    target/release/tala-bulk plan --shards 2 --buckets "$b" testdata/fixtures > "$seed/plan.json"
    for s in 0 1; do
        target/release/tala-bulk map --plan "$seed/plan.json" --shard "$s" --out "$seed/maps" -q >/dev/null
    done
done
# And the one-file partials of a state directory, which carry a catalog.
target/release/tala-bulk -q --state "$seed/state" --out "$seed/out" testdata/fixtures || true
(cd scripts/fuzz && cargo +nightly run -q --bin partial_seed -- "../../$corpus/partial" \
    "$seed"/maps/*.tbp "$seed"/state/files/*.tbp)
rm -rf "$seed"
# AuditData seeds: the JSON of each fixture row; shapes seeds: each fixture's records, a line
# each (the first ones teach the later ones).
python3 - "$corpus/auditdata" "$corpus/shapes" <<'PY'
import csv, glob, hashlib, sys
def save(folder, data):
    open(f'{folder}/{hashlib.sha1(data).hexdigest()}', 'wb').write(data)
for path in glob.glob('testdata/fixtures/**/*.csv', recursive=True):
    with open(path, newline='', encoding='utf-8', errors='replace') as f:
        rows = list(csv.reader(f))
    if not rows: continue
    cols = [c.strip().lower() for c in rows[0]]
    if 'auditdata' not in cols: continue
    i = cols.index('auditdata')
    records = [row[i] for row in rows[1:] if len(row) > i]
    for record in records:
        save(sys.argv[1], record.encode())
    save(sys.argv[2], '\n'.join(r.replace('\n', ' ') for r in records[:40]).encode())
PY
# The reader writes each input to a file: keep those in memory.
export TMPDIR=/dev/shm
for target in "${targets[@]}"; do
    cargo +nightly fuzz run --fuzz-dir scripts/fuzz "$target" "$corpus/$target" -- \
        -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=60 \
        -print_final_stats=1 -close_fd_mask=2
done
