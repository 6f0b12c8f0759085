#!/usr/bin/env python3
"""End-to-end benchmark: tala-bulk against the machine's limits and a peer, in one run.

Usage:
    python3 scripts/bench.py [--files 40] [--rows 50000] [--runs 3] [--jobs N] [--no-duckdb]
                             [--no-split] [--no-nightly] [--no-blobs]
                             [--only split|nightly|blobs]

It builds the release binary, generates (once, kept under target/bench/) a ~2 GB archive with
scripts/gen_archive.py and a zstd-compressed copy, warms the page cache, then times each command
--runs times and reports the median wall time, MB/s and rows/s over the plain archive's bytes,
and peak RSS (GNU time's when it is installed, else wait4's; per process):

  wc -l, cat            the scan limit over the same plain files
  zstd -dc x N          the decompression limit: the .zst files decompressed to /dev/null by N
                        parallel zstd processes
  tala-bulk             --jobs 1 and --jobs N on the plain archive, --jobs N on the .zst one,
                        --jobs N on the plain archive plus a copy of it (every record a
                        duplicate: peak RSS should barely move), and --audit-only
  duckdb                the same three reports as SQL over the same CSVs (DuckDB from PyPI in a
                        venv under target/bench/), on N threads
  blobs                 the same windows as Management Activity API content blobs
                        (gen_archive.py --format json: every record, no cap) read with --jobs
                        N; compared per record with the CSV archive
  split                 the stages of a split run on this machine, one after the other: plan,
                        map per shard (2 shards), merge per bucket (8 buckets), finalize, with
                        the partials' sizes against the input; and the Spark driver on
                        local[N] (--jobs 1 per task) when scripts/.venv has pyspark
  nightly               --state: the state of the archive built once, then one new export of
                        --rows rows added (the export that follows the archive's last, its
                        window overlapping the last one's, as a nightly collector's): a full run
                        over archive + export against --state runs that read only the new
                        export, with all meetings and with --since its day, run in turns
                        (full, --state, windowed, full, ...; at least 5 rounds) so drift in the
                        machine's load touches each alike, each ratio also given round by
                        round; and the state directory's size against the archive's

The ratios the project tracks (README "Performance") are printed after the table, with the
phases of one more run (TALA_BULK_TIMINGS=1: reading and merging, meetings, writing reports).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "target" / "bench"


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


# GNU time reports its child's peak RSS. wait4 on our own child would report at least this
# script's own RSS at the fork: Linux carries a process's high-water mark across fork and exec,
# and after the DuckDB step this script holds hundreds of MB, which showed as every later
# command's peak.
GNU_TIME = shutil.which("time")
RSS_MARK = "bench-maxrss-kb"


def timed(argv, runs, ok=(0,)):
    """Median wall seconds and max peak RSS (MiB) of running argv `runs` times."""
    walls, rss = [], 0
    for _ in range(runs):
        run = [GNU_TIME, "-f", f"\n{RSS_MARK} %M", *argv] if GNU_TIME else argv
        start = time.perf_counter()
        proc = subprocess.Popen(run, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - start)
        code = os.waitstatus_to_exitcode(status)
        if code not in ok:
            sys.exit(f"bench: {' '.join(map(str, argv))[:200]} exited {code}: {err[-2000:]!r}")
        peak = usage.ru_maxrss
        marks = [l for l in err.decode(errors="replace").splitlines() if l.startswith(RSS_MARK)]
        if GNU_TIME and marks:
            peak = int(marks[-1].split()[-1])
        rss = max(rss, peak / 1024)
    return statistics.median(walls), rss


def ensure_archive(files, rows):
    plain = BENCH / f"archive-{files}x{rows}"
    if not plain.exists():
        tmp = plain.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        sh([sys.executable, ROOT / "scripts/gen_archive.py", "--out", tmp, "--files", str(files),
            "--row-cap", str(rows), "--seed", "1"])
        tmp.rename(plain)
    zst = BENCH / f"archive-{files}x{rows}-zst"
    if not zst.exists():
        tmp = zst.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for f in sorted(plain.iterdir()):
            sh(["zstd", "-q", "-3", "-T0", str(f), "-o", str(tmp / (f.name + ".zst"))])
        tmp.rename(zst)
    copy = BENCH / f"archive-{files}x{rows}-copy"
    if not copy.exists():
        tmp = copy.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(plain, tmp)
        tmp.rename(copy)
    return plain, zst, copy


DUCKDB_SQL = r"""
CREATE TEMP TABLE raw AS
SELECT filename, row_number() OVER () AS rn,
       coalesce(nullif(Operation, ''), json_extract_string(AuditData, '$.Operation')) AS op,
       AuditData AS j
FROM read_csv('{glob}', union_by_name = true, all_varchar = true, filename = true,
              header = true, quote = '"', escape = '"',
              max_line_size = 100000000);
CREATE TEMP TABLE rec AS
SELECT * FROM (
  SELECT *, row_number() OVER (PARTITION BY coalesce(lower(json_extract_string(j, '$.Id')), filename || ':' || rn)
                                ORDER BY filename, rn) AS copy
  FROM raw WHERE lower(op) = 'meetingparticipantdetail'
) WHERE copy = 1 AND json_extract_string(j, '$.MeetingDetailId') IS NOT NULL;
CREATE TEMP TABLE conn AS
SELECT json_extract_string(j, '$.MeetingDetailId') AS meeting_id,
       coalesce(nullif(json_extract_string(a, '$.UserObjectId'), ''),
                nullif(json_extract_string(a, '$.DisplayName'), ''), '') AS attendee_key,
       json_extract_string(a, '$.UPN') AS attendee_email,
       coalesce(json_extract_string(a, '$.RecipientType'), '?') AS key_type,
       json_extract_string(a, '$.OrganizationId') AS attendee_organization,
       json_extract_string(j, '$.JoinTime') AS join_time,
       json_extract_string(j, '$.LeaveTime') AS leave_time,
       json_extract_string(j, '$.ClientIP') AS client_ip,
       coalesce(json_extract_string(j, '$.DeviceInformation'), '') AS device,
       json_extract_string(j, '$.ExtraProperties[0].Value') AS property,
       filename, rn,
       json_extract_string(j, '$.UserId') AS organizer_email,
       json_extract_string(j, '$.UserKey') AS organizer_id,
       json_extract_string(j, '$.OrganizationId') AS organizer_organization,
       json_extract_string(j, '$.ItemName') AS meeting_type
FROM rec, unnest(from_json(json_extract(j, '$.Attendees'), '["json"]')) AS t(a);
COPY (
  SELECT meeting_id, arg_min(organizer_email, (filename, rn)), arg_min(organizer_id, (filename, rn)),
         arg_min(organizer_organization, (filename, rn)), arg_min(meeting_type, (filename, rn)),
         min(join_time) AS first_join, max(leave_time), count(DISTINCT attendee_key)
  FROM conn GROUP BY meeting_id ORDER BY first_join, meeting_id
) TO '{out}/organizers.csv' (HEADER);
CREATE TEMP TABLE distinct_conn AS
SELECT meeting_id, attendee_key, arg_min(attendee_email, (filename, rn)) AS attendee_email, key_type,
       attendee_organization, join_time, leave_time, client_ip, device, property
FROM conn GROUP BY ALL;
COPY (SELECT * FROM distinct_conn ORDER BY meeting_id, attendee_key, join_time, leave_time)
  TO '{out}/attendees.csv' (HEADER);
COPY (
  SELECT * FROM (
    SELECT *, count(*) OVER g AS connections, row_number() OVER (g ORDER BY join_time, leave_time) AS connection,
           epoch(strptime(join_time, '%Y-%m-%dT%H:%M:%S'))
             - epoch(strptime(lag(leave_time) OVER (g ORDER BY join_time, leave_time), '%Y-%m-%dT%H:%M:%S')) AS gap_seconds
    FROM distinct_conn
    WINDOW g AS (PARTITION BY meeting_id, attendee_key, CASE WHEN device = '' THEN '?' ELSE device END)
  ) WHERE connections >= 2 ORDER BY meeting_id, attendee_key, device, connection
) TO '{out}/disconnections.csv' (HEADER);
"""


def ensure_duckdb():
    venv = BENCH / "venv"
    py = venv / "bin" / "python"
    if not py.exists():
        sh([sys.executable, "-m", "venv", venv])
        sh([py, "-m", "pip", "install", "-q", "duckdb"])
    return py


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--rows", type=int, default=50000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--no-duckdb", action="store_true")
    ap.add_argument("--no-nightly", action="store_true")
    ap.add_argument("--no-split", action="store_true")
    ap.add_argument("--no-blobs", action="store_true")
    ap.add_argument("--only", choices=["split", "nightly", "blobs"],
                    help="run only that section (after building the archive)")
    args = ap.parse_args()
    n = args.jobs

    sh(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    exe = str(ROOT / "target/release/tala-bulk")
    plain, zst, copy = ensure_archive(args.files, args.rows)
    plain_files = sorted(str(p) for p in plain.iterdir())
    zst_files = sorted(str(p) for p in zst.iterdir())
    mb = sum(os.path.getsize(f) for f in plain_files) / 1e6
    rows = int(subprocess.run(["wc", "-l", *plain_files], capture_output=True, text=True, check=True)
               .stdout.split()[-2]) - len(plain_files)
    copy_files = sorted(str(p) for p in copy.iterdir())
    for f in plain_files + zst_files + copy_files:  # warm the page cache
        with open(f, "rb") as fh:
            while fh.read(1 << 24):
                pass
    if args.only == "split":
        return split(exe, plain, args)
    if args.only == "nightly":
        return nightly(exe, plain, args, mb, rows)
    if args.only == "blobs":
        return blobs(exe, n, args, None)
    out = BENCH / "out"
    xargs_zstd = ["sh", "-c", f"printf '%s\\0' \"$@\" | xargs -0 -P {n} -n 1 zstd -dcq > /dev/null", "sh",
                  *zst_files]
    cases = [
        ("wc -l", ["wc", "-l", *plain_files]),
        ("cat > /dev/null", ["sh", "-c", 'cat "$@" > /dev/null', "sh", *plain_files]),
        (f"zstd -dc x{n} (.zst)", xargs_zstd),
        ("tala-bulk --jobs 1", [exe, "-q", "--jobs", "1", "--out", str(out), str(plain)]),
        (f"tala-bulk --jobs {n}", [exe, "-q", "--jobs", str(n), "--out", str(out), str(plain)]),
        (f"tala-bulk --jobs {n} (.zst)", [exe, "-q", "--jobs", str(n), "--out", str(out), str(zst)]),
        (f"tala-bulk --jobs {n} (archive + copy)",
         [exe, "-q", "--jobs", str(n), "--out", str(out), str(plain), str(copy)]),
        (f"tala-bulk --jobs {n} --audit-only",
         [exe, "-q", "--jobs", str(n), "--audit-only", "--out", str(BENCH / "out-audit"), str(plain)]),
    ]
    if not args.no_duckdb:
        py = ensure_duckdb()
        dout = BENCH / "duckdb-out"
        dout.mkdir(parents=True, exist_ok=True)
        sql = DUCKDB_SQL.replace("{glob}", f"{plain}/*.csv").replace("{out}", str(dout))
        script = BENCH / "duckdb_reports.py"
        script.write_text(
            "import duckdb, sys\n"
            f"con = duckdb.connect(config={{'threads': {n}}})\n"
            f"con.execute({sql!r})\n")
        cases.append((f"duckdb SQL ({n} threads)", [str(py), str(script)]))

    results = {}
    print(f"# {time.strftime('%Y-%m-%d')}, nproc {os.cpu_count()}, {len(plain_files)} files, "
          f"{mb:.0f} MB, {rows} rows, median of {args.runs}")
    print(f"| command | wall s | MB/s | rows/s | peak RSS MB |")
    print(f"| --- | ---: | ---: | ---: | ---: |")
    for name, argv in cases:
        # tala-bulk exits 1 when it skipped input; the generated archive has none, but a
        # capped file is not an error either.
        wall, rss = timed(argv, args.runs, ok=(0, 1) if argv[0] == exe else (0,))
        results[name] = (wall, rss)
        print(f"| {name} | {wall:.2f} | {mb / wall:,.0f} | {rows / wall:,.0f} | {rss:,.0f} |", flush=True)

    def w(name):
        return results[name][0]

    print()
    print(f"- tala-bulk --jobs {n} / wc -l: {w(f'tala-bulk --jobs {n}') / w('wc -l'):.1f}x")
    print(f"- tala-bulk --jobs {n} (.zst) / zstd -dc x{n}: "
          f"{w(f'tala-bulk --jobs {n} (.zst)') / w(f'zstd -dc x{n} (.zst)'):.1f}x")
    print(f"- jobs 1 / jobs {n}: {w('tala-bulk --jobs 1') / w(f'tala-bulk --jobs {n}'):.2f}x faster")
    print(f"- --audit-only / full run (--jobs {n}): "
          f"{w(f'tala-bulk --jobs {n}') / w(f'tala-bulk --jobs {n} --audit-only'):.1f}x faster")
    twice = results[f"tala-bulk --jobs {n} (archive + copy)"][1] / results[f"tala-bulk --jobs {n}"][1]
    print(f"- peak RSS, archive + copy / archive: {twice:.2f}")
    phases(exe, n, out, plain)
    if not args.no_blobs:
        blobs(exe, n, args, (w(f"tala-bulk --jobs {n}"), rows))
    if not args.no_duckdb:
        print(f"- duckdb / tala-bulk --jobs {n}: "
              f"{w(f'duckdb SQL ({n} threads)') / w(f'tala-bulk --jobs {n}'):.1f}x")
        subprocess.run([exe, "-q", "--jobs", str(n), "--out", str(out), str(plain)],
                   stderr=subprocess.DEVNULL)
        for report in ("organizers.csv", "attendees.csv", "disconnections.csv"):
            ours = sum(1 for _ in open(out / report, "rb"))
            theirs = sum(1 for _ in open(BENCH / "duckdb-out" / report, "rb"))
            print(f"- {report}: tala-bulk {ours - 1} rows, duckdb {theirs - 1} rows")
    if not args.no_split:
        split(exe, plain, args)
    if not args.no_nightly:
        nightly(exe, plain, args, mb, rows)


def blobs(exe, n, args, csv_run):
    """The same windows as Management Activity API content blobs (gen_archive.py --format
    json: compact JSON arrays, every record of each window, no cap, named by content id), read
    by --jobs n. The blobs hold more records than the capped CSV exports, so the comparison is
    per record. csv_run: the CSV archive's (wall, rows), when it was timed."""
    arch = BENCH / f"archive-{args.files}x{args.rows}-json"
    if not arch.exists():
        tmp = arch.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        sh([sys.executable, ROOT / "scripts/gen_archive.py", "--out", tmp, "--files",
            str(args.files), "--row-cap", str(args.rows), "--format", "json"])
        tmp.rename(arch)
    files = sorted(str(p) for p in arch.iterdir())
    for f in files:  # warm the page cache
        with open(f, "rb") as fh:
            while fh.read(1 << 24):
                pass
    mb = sum(os.path.getsize(f) for f in files) / 1e6
    out = BENCH / "out-blobs"
    wall, rss = timed([exe, "-q", "--jobs", str(n), "--out", str(out), str(arch)], args.runs)
    records = json.loads((out / "summary.json").read_text())["rows"]
    print()
    print(f"| tala-bulk --jobs {n} (JSON blobs) | {wall:.2f} | {mb / wall:,.0f} | "
          f"{records / wall:,.0f} | {rss:,.0f} |")
    print(f"- JSON blob archive: {len(files)} files, {mb:.0f} MB, {records} records")
    if csv_run:
        per_csv = csv_run[0] / csv_run[1]
        print(f"- time per record, JSON blobs / CSV: {wall / records / per_csv:.2f}")


def phases(exe, n, out, plain):
    """Where a run's time goes: one more run with TALA_BULK_TIMINGS=1, its phases beside the
    wall time of that run."""
    env = dict(os.environ, TALA_BULK_TIMINGS="1")
    start = time.perf_counter()
    proc = subprocess.run([exe, "-q", "--jobs", str(n), "--out", str(out), str(plain)], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    laps = [line.split("timing: ", 1)[1] for line in proc.stderr.splitlines()
            if "timing: " in line]
    print(f"- phases of one more --jobs {n} run ({wall:.2f} s): " + "; ".join(laps))


def split(exe, plain, args):
    """plan → map → merge → finalize by hand, then the same on Spark local mode."""
    import json

    n = args.jobs
    base = BENCH / "split"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    plan = base / "plan.json"
    archive = str(plain.resolve())
    plan.write_bytes(subprocess.run([exe, "plan", "--shards", "2", "--buckets", "8", archive],
                                    check=True, capture_output=True).stdout)
    shards = len(json.loads(plan.read_text())["shards"])
    rows = []
    for s in range(shards):
        argv = [exe, "map", "--plan", str(plan), "--shard", str(s), "--out", str(base / "map"),
                "-q", "--jobs", str(n)]
        wall, rss = timed(argv, args.runs)
        rows.append((f"map shard {s}", wall, rss))
    maps = sorted(str(p) for p in (base / "map").iterdir())
    for b in range(8):
        argv = [exe, "merge", "--bucket", str(b), "--out", str(base / "merge"), "-q", *maps]
        wall, rss = timed(argv, args.runs)
        rows.append((f"merge bucket {b}", wall, rss))
    merges = sorted(str(p) for p in (base / "merge").iterdir())
    argv = [exe, "finalize", "--out", str(base / "out"), "-q", "--jobs", str(n), *merges]
    wall, rss = timed(argv, args.runs, ok=(0, 1))
    rows.append(("finalize", wall, rss))
    local, local_rss = timed([exe, "-q", "--jobs", str(n), "--out", str(base / "local"), archive],
                             args.runs, ok=(0, 1))
    size = lambda d: sum(p.stat().st_size for p in (base / d).iterdir())
    input_bytes = sum(p.stat().st_size for p in plain.iterdir())
    print()
    print("Split run, stages one after the other (median of each)")
    print("| stage | wall s | peak RSS MB |")
    print("| --- | ---: | ---: |")
    for name, w, r in rows:
        print(f"| {name} | {w:.2f} | {r:,.0f} |")
    print(f"| all stages | {sum(w for _, w, _ in rows):.2f} | |")
    print(f"| local run (same paths) | {local:.2f} | {local_rss:,.0f} |")
    print(f"- map partials / input: {size('map') / input_bytes:.1%}; "
          f"bucket partials: {size('merge') / 1e6:.0f} MB")
    same = all((base / "out" / r).read_bytes() == (base / "local" / r).read_bytes()
               for r in ("organizers.csv", "attendees.csv", "disconnections.csv",
                         "truncation.csv", "redownload.csv", "redownload.ps1", "errors.csv"))
    print(f"- reports byte-identical to the local run: {same}")
    py = ROOT / "scripts" / ".venv" / "bin" / "python"
    if py.exists():
        env = dict(os.environ, PYSPARK_PYTHON=str(py), SPARK_LOCAL_IP="127.0.0.1")
        argv = [str(py), str(ROOT / "scripts/spark/tala_bulk_spark.py"), "--master",
                f"local[{n}]", "--bin", exe, "--work", str(base / "spark-work"), "--out",
                str(base / "spark-out"), "--shards", "4", "--buckets", "4", "--jobs", "1", "-q",
                archive]
        start = time.perf_counter()
        subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        print(f"- Spark local[{n}], 4 shards, 4 buckets, --jobs 1: "
              f"{time.perf_counter() - start:.1f} s end to end (local run {local:.1f} s)")


def nightly(exe, plain, args, mb, rows):
    """The nightly job with --state: one new export on top of an archive whose state is built."""
    n = args.jobs
    base = BENCH / "nightly"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    archive, state, snap = base / "archive", base / "state", base / "state-built"
    sh(["cp", "-al", str(plain), str(archive)])  # hard links: no copy of 2 GB
    # The night's new export: the one that follows the archive's last (its window overlaps
    # the last one's, as consecutive exports do), generated as the archive's next file.
    new = BENCH / f"new-export-{args.files}x{args.rows}"
    if not new.exists():
        tmp = new.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        sh([sys.executable, ROOT / "scripts/gen_archive.py", "--out", tmp, "--files",
            str(args.files + 1), "--from-file", str(args.files), "--row-cap", str(args.rows),
            "--seed", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tmp.rename(new)
    out = str(base / "out")
    run = [exe, "-q", "--jobs", str(n), "--out", out]
    build_wall, build_rss = timed(run + ["--state", str(state), str(archive)], 1, ok=(0, 1))
    sh(["cp", "-a", str(state), str(snap)])
    # The reports that run wrote, as the night before's run leaves them in --out: a --state
    # run copies the rows of the meetings that did not change from them.
    out_snap = base / "out-built"
    sh(["cp", "-a", out, str(out_snap)])
    [export] = sorted(new.iterdir())
    os.link(export, archive / export.name)
    # The report of the new export's day: --since that day, --until the next.
    import datetime
    day = datetime.date(int(export.name[4:8]), int(export.name[8:10]), int(export.name[10:12]))
    since = ["--since", day.isoformat(), "--until", (day + datetime.timedelta(days=1)).isoformat()]

    def restored(argv, reports=None):
        # Each run starts from the built state (hard links: the run replaces, never rewrites,
        # the files it changes), so each reads the new export; with `reports`, from the
        # reports the build wrote too, as a nightly run finds the night before's.
        script = 'rm -rf "$1" && cp -al "$2" "$1" && shift 2 && exec "$@"'
        if reports is not None:
            script = f'rm -rf "{reports}" && cp -al "{out_snap}" "{reports}" && {script}'
        return ["sh", "-c", script, "sh", str(state), str(snap), *argv]

    cases = [
        ("full run, archive + new export", run + [str(archive)]),
        ("--state, new export read",
         restored(run + ["--state", str(state), str(archive)], reports=base / "out-1")),
        ("--state --since/--until its day, new export read",
         restored(run + ["--state", str(state)] + since + [str(archive)])),
    ]
    # Each case replaces its own last reports, as a nightly job does: replacing another case's
    # (a day's 41 MB by all 463 MB, or back) costs what removing those files costs.
    cases = [(name, [str(base / f"out-{k}") if a == out else a for a in argv])
             for k, (name, argv) in enumerate(cases)]
    print()
    print(f"Nightly (--state, one new export of {args.rows} rows; building the state: "
          f"{build_wall:.2f} s, {build_rss:,.0f} MB)")
    print("| command | wall s | peak RSS MB |")
    print("| --- | ---: | ---: |")
    # Interleaved (full, --state, windowed, full, ...): the machine's load drifts over minutes,
    # and the ratios compare runs, so each round gives every case the same conditions.
    # At least five rounds: a round is a few seconds, and on a shared machine the ratio of two
    # medians of three moved by ten points from one bench run to the next.
    walls = {name: [] for name, _ in cases}
    peaks = {name: 0.0 for name, _ in cases}
    for _ in range(max(args.runs, 5)):
        for name, argv in cases:
            wall, rss = timed(argv, 1, ok=(0, 1))
            walls[name].append(wall)
            peaks[name] = max(peaks[name], rss)
    results = {}
    for name, _ in cases:
        results[name] = statistics.median(walls[name])
        print(f"| {name} | {results[name]:.2f} | {peaks[name]:,.0f} |", flush=True)
    full = results["full run, archive + new export"]
    size = sum(f.stat().st_size for f in state.rglob("*") if f.is_file())
    archive_bytes = sum(f.stat().st_size for f in archive.iterdir())
    print()
    def spread(name):
        # The ratio within each round, lowest and highest: how far the machine moved it.
        ratios = [w / f for w, f in zip(walls[name], walls["full run, archive + new export"])]
        return f"{min(ratios):.0%}-{max(ratios):.0%}"

    state_case, window_case = "--state, new export read", \
        "--state --since/--until its day, new export read"
    print(f"- --state / full run: {results[state_case] / full:.0%} (target <= 40%; "
          f"{spread(state_case)} round by round)")
    print(f"- --state --since/--until / full run: {results[window_case] / full:.0%} "
          f"(target <= 10%; {spread(window_case)} round by round)")
    print(f"- state directory / archive: {size / archive_bytes:.1%} (target <= 10%)")


if __name__ == "__main__":
    main()
