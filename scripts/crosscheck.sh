#!/usr/bin/env bash
# Cross-checks tala-bulk against the independent Python implementation of the reports
# (scripts/reference_reports.py) on a freshly generated archive.
#   scripts/crosscheck.sh [FILES] [ROWS] [SEED]     (defaults: 8 files x 2000 rows, seed 11)
set -euo pipefail
cd "$(dirname "$0")/.."
files=${1:-8} rows=${2:-2000} seed=${3:-11}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 scripts/gen_archive.py --out "$work/archive" --files "$files" --row-cap "$rows" --seed "$seed" 2>/dev/null
cargo build --release --quiet
./target/release/tala-bulk --quiet --out "$work/tala" "$work/archive" || [ $? -eq 1 ]
python3 scripts/reference_reports.py --out "$work/ref" "$work/archive" > "$work/ref-stats.txt"
status=0
for report in organizers attendees disconnections; do
    if cmp -s "$work/ref/$report.csv" "$work/tala/$report.csv"; then
        echo "same: $report.csv ($(($(wc -l < "$work/tala/$report.csv") - 1)) rows)"
    else
        echo "DIFFERENT: $report.csv"; diff "$work/ref/$report.csv" "$work/tala/$report.csv" | head -20
        status=1
    fi
done
cat "$work/ref-stats.txt"
exit $status
