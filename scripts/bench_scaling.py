#!/usr/bin/env python3
"""Scaling curve: tala-bulk --jobs 1, 2, 4, ... on the bench archive, in one run.

Usage:
    python3 scripts/bench_scaling.py [--bin PATH] [--archive DIR] [--jobs 1,2,4,8,16]
                                     [--runs 3] [--json FILE]

This is the many-core half of scripts/bench.py: it needs no cargo and no network, so it can run
on a machine that has only a prebuilt binary, python3 and this repository (the README's
"Performance" section says where the published curve was measured). It

- generates the bench archive when DIR does not exist (scripts/gen_archive.py with the same
  arguments as scripts/bench.py: 40 files x 50,000 rows, seed 1, ~2 GB; the files do not depend
  on how many processes write them, so it uses every core);
- warms the page cache and times `wc -l` over the same files, the scan limit the README's ratios
  are taken against;
- runs `tala-bulk -q --jobs N` for each N, --runs rounds, each round going through every N in
  turn so that drift in the machine's load touches each N alike, and keeps the median wall time
  and the largest peak RSS (wait4);
- runs each N once more with TALA_BULK_TIMINGS=1 for its phases (reading and merging, meetings,
  writing reports);
- checks that every N wrote the same reports (SHA-256 of each file but summary.json, whose
  timing differs): the determinism promise, on more threads than CI has.

It prints a Markdown table (jobs, wall, speed-up over --jobs 1, efficiency, GB/s, x wc -l, RSS,
phases) and, with --json, writes the figures to FILE.
"""

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_timed(argv, env=None):
    """Wall seconds, peak RSS in MiB and stderr of one run; exits on a failed run."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    # 0 = clean; 1 = some input problems reported (the bench archive has capped files).
    if code not in (0, 1):
        sys.exit(f"bench_scaling: {' '.join(map(str, argv))[:200]} exited {code}: {err[-2000:]!r}")
    return wall, usage.ru_maxrss / 1024, err.decode("utf-8", "replace")


def ensure_archive(archive):
    if archive.exists():
        return
    tmp = archive.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run([sys.executable, str(ROOT / "scripts/gen_archive.py"), "--out", str(tmp),
                    "--files", "40", "--row-cap", "50000", "--seed", "1",
                    "--jobs", str(os.cpu_count() or 1)], check=True, stderr=subprocess.DEVNULL)
    tmp.rename(archive)


def digest(out):
    """SHA-256 of every report in `out` but summary.json (its timing differs run to run)."""
    h = hashlib.sha256()
    for f in sorted(out.iterdir()):
        if f.is_file() and f.name != "summary.json":
            h.update(f.name.encode())
            h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:16]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=str(ROOT / "target/release/tala-bulk"))
    p.add_argument("--archive", default=str(ROOT / "target/bench/archive-40x50000"))
    p.add_argument("--jobs", default="1,2,4,8,16")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--json", default=None, metavar="FILE")
    args = p.parse_args()

    exe = Path(args.bin)
    if not exe.exists():
        sys.exit(f"bench_scaling: no binary at {exe} (cargo build --release, or --bin PATH)")
    archive = Path(args.archive)
    ensure_archive(archive)
    files = sorted(str(f) for f in archive.iterdir() if f.is_file())
    size = sum(os.path.getsize(f) for f in files)
    jobs = [int(j) for j in args.jobs.split(",")]

    for f in files:  # warm the page cache, as every timed command below finds it
        with open(f, "rb") as fh:
            while fh.read(1 << 24):
                pass
    wc = statistics.median(run_timed(["wc", "-l", *files])[0] for _ in range(args.runs))

    outs = {n: Path(os.environ.get("TMPDIR", "/tmp")) / f"tala-scaling-{n}" for n in jobs}
    walls = {n: [] for n in jobs}
    rss = {n: 0.0 for n in jobs}
    for _ in range(args.runs):
        for n in jobs:
            shutil.rmtree(outs[n], ignore_errors=True)
            wall, peak, _ = run_timed([str(exe), "-q", "--jobs", str(n), "--out", str(outs[n]),
                                       str(archive)])
            walls[n].append(wall)
            rss[n] = max(rss[n], peak)

    phases, digests = {}, {}
    env = dict(os.environ, TALA_BULK_TIMINGS="1")
    for n in jobs:
        shutil.rmtree(outs[n], ignore_errors=True)
        _, _, err = run_timed([str(exe), "-q", "--jobs", str(n), "--out", str(outs[n]),
                               str(archive)], env=env)
        phases[n] = "; ".join(line.split("timing: ", 1)[1] for line in err.splitlines()
                              if "timing: " in line)
        digests[n] = digest(outs[n])
        shutil.rmtree(outs[n], ignore_errors=True)

    base = statistics.median(walls[jobs[0]])
    rows = []
    print(f"archive: {len(files)} files, {size / 1e9:.2f} GB; cores: {os.cpu_count()}; "
          f"wc -l: {wc:.2f} s; runs: {args.runs}")
    print()
    print("| jobs | wall s (runs) | speed-up | efficiency | GB/s | x wc -l | peak RSS MB |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for n in jobs:
        med = statistics.median(walls[n])
        row = {"jobs": n, "wall_s": med, "walls_s": walls[n], "speedup": base / med,
               "efficiency": base / med / (n / jobs[0]), "gb_per_s": size / 1e9 / med,
               "x_wc": med / wc, "peak_rss_mb": rss[n], "phases": phases[n],
               "reports": digests[n]}
        rows.append(row)
        spread = ", ".join(f"{w:.2f}" for w in sorted(walls[n]))
        print(f"| {n} | {med:.2f} ({spread}) | {row['speedup']:.2f}x | "
              f"{row['efficiency'] * 100:.0f}% | {row['gb_per_s']:.2f} | {row['x_wc']:.1f} | "
              f"{rss[n]:.0f} |")
    print()
    for n in jobs:
        print(f"- --jobs {n} phases: {phases[n]}")
    same = len(set(digests.values())) == 1
    print(f"- reports identical for every --jobs: {'yes' if same else 'NO'} "
          f"({', '.join(f'{n}: {d}' for n, d in digests.items())})")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"files": len(files), "bytes": size, "cores": os.cpu_count(), "wc_s": wc,
             "runs": args.runs, "rows": rows, "reports_identical": same}, indent=2) + "\n")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
