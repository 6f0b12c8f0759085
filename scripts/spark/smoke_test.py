#!/usr/bin/env python3
"""Spark smoke test (CI): the driver on local[2,3], classic and over Spark Connect, over a
generated archive, with the first attempt of every map and merge task failing after it wrote
its partial, gives reports equal byte for byte to a local run's (summary.json's timing fields
aside).

    scripts/spark/smoke_test.py --bin target/debug/tala-bulk
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import tala_bulk_spark  # noqa: E402


def report_set(directory):
    out = {}
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as f:
            data = f.read()
        if name == "summary.json":
            summary = json.loads(data)
            for timing in ("elapsed_seconds", "mb_per_second"):
                summary.pop(timing, None)
            data = json.dumps(summary, sort_keys=True).encode()
        out[name] = data
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", required=True)
    a = p.parse_args()
    binary = os.path.abspath(a.bin)
    with tempfile.TemporaryDirectory() as tmp:
        archive = os.path.join(tmp, "archive")
        subprocess.run([sys.executable, os.path.join(HERE, "..", "gen_archive.py"), "--out",
                        archive, "--files", "12", "--row-cap", "300", "--seed", "11"],
                       check=True, stdout=subprocess.DEVNULL)
        local = os.path.join(tmp, "local")
        proc = subprocess.run([binary, "--out", local, "--row-cap", "300", "--jobs", "1", "-q",
                               archive])
        if proc.returncode not in (0, 1):
            sys.exit(f"the local run failed with code {proc.returncode}")
        want = report_set(local)
        # Classic Spark, then Spark Connect (a local Connect server): the same tasks, the same
        # reports.
        check_refusals(binary, tmp, archive)
        for label, session in (("local[2,3]", ["--master", "local[2,3]",
                                               "--conf", "spark.task.cpus=1"]),
                               ("Spark Connect local[2,3]", ["--remote", "local[2,3]"])):
            check(label, session, binary, tmp, archive, proc.returncode, want)
        # spark-submit with the options that only finalize takes (a building file and a time
        # zone), against a local run with the same.
        sites = os.path.abspath(os.path.join(HERE, "..", "..", "testdata", "sites.tsv"))
        placed = ["--sites", sites, "--tz", "Europe/Berlin"]
        local_placed = os.path.join(tmp, "local-placed")
        proc = subprocess.run([binary, "--out", local_placed, "--row-cap", "300", "--jobs", "1",
                               "-q", *placed, archive])
        if proc.returncode not in (0, 1):
            sys.exit(f"the local run with {placed} failed with code {proc.returncode}")
        want_placed = report_set(local_placed)
        if want_placed["timeline.csv"] == want["timeline.csv"]:
            sys.exit("--tz Europe/Berlin did not change timeline.csv")
        check_spark_submit(binary, tmp, archive, want_placed, placed)
        check_failure(binary, tmp, archive)


def check_refusals(binary, tmp, archive):
    """What the driver refuses before Spark does anything: --work inside an input, and a
    --conf that is not KEY=VALUE."""
    try:
        tala_bulk_spark.run(None, [archive], bin=binary, work=os.path.join(archive, "work"),
                            out=os.path.join(tmp, "never"))
        sys.exit("--work inside the archive was not refused")
    except tala_bulk_spark.StageFailed as e:
        if "is inside the input" not in str(e):
            sys.exit(f"--work inside the archive: unexpected message {e}")
    try:
        tala_bulk_spark.main(["--master", "local[1]", "--conf", "no-equals-sign", "--bin",
                              binary, "--work", os.path.join(tmp, "w"), "--out",
                              os.path.join(tmp, "never"), archive])
        sys.exit("--conf without = was not refused")
    except SystemExit as e:
        if e.code != 2:
            raise
    print("spark smoke test, refusals: --work inside an input, --conf without =")


def check_spark_submit(binary, tmp, archive, want, options):
    """The driver as a spark-submit application (the venv's spark-submit, local mode), with
    finalize's `options`."""
    submit = os.path.join(os.path.dirname(sys.executable), "spark-submit")
    out = os.path.join(tmp, "spark-submit")
    proc = subprocess.run(
        [submit, "--master", "local[2]", "--conf", "spark.driver.host=127.0.0.1",
         "--conf", "spark.driver.bindAddress=127.0.0.1",
         "--conf", "spark.ui.showConsoleProgress=false",
         os.path.join(HERE, "tala_bulk_spark.py"), "--bin", binary,
         "--work", os.path.join(tmp, "work-submit"), "--out", out, "--shards", "2",
         "--buckets", "2", "--row-cap", "300", "-q", *options, archive],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if proc.returncode not in (0, 1):
        sys.exit(f"spark-submit exited {proc.returncode}:\n{proc.stderr.decode()[-3000:]}")
    if report_set(out) != want:
        sys.exit("spark-submit: the reports differ from the local run's")
    print(f"spark smoke test, spark-submit --master local[2] {' '.join(options[2:])}, a building "
          f"file: {len(want)} reports identical to the local run")


def check_failure(binary, tmp, archive):
    """A map task whose binary fails for good: the driver exits 3 and shows the binary's exit
    code and the end of its stderr, and writes no report."""
    wrapper = os.path.join(tmp, "failing-map")
    with open(wrapper, "w") as f:
        f.write(f'#!/bin/sh\nif [ "$1" = map ]; then echo "disk on fire" >&2; exit 3; fi\n'
                f'exec "{binary}" "$@"\n')
    os.chmod(wrapper, 0o755)
    out = os.path.join(tmp, "spark-failed")
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = tala_bulk_spark.main([
            "--master", "local[2]", "--bin", wrapper, "--work", os.path.join(tmp, "work-failed"),
            "--out", out, "--row-cap", "300", "-q", archive])
    text = err.getvalue()
    if code != 3 or "tala-bulk map 0 exited with code 3" not in text or "disk on fire" not in text:
        sys.exit(f"a failing map task: expected exit 3 naming the task and its stderr, got "
                 f"{code}:\n{text[-2000:]}")
    if os.path.exists(os.path.join(out, "organizers.csv")):
        sys.exit("a failing map task: reports were written")
    print("spark smoke test, a failing map task: the driver exits 3 with the binary's exit code "
          "and stderr")


def check(label, session, binary, tmp, archive, local_code, want):
    name = "connect" if "--remote" in session else "classic"
    work, spark_out = os.path.join(tmp, f"work-{name}"), os.path.join(tmp, f"spark-{name}")
    code = tala_bulk_spark.main(session + [
        "--bin", binary, "--work", work, "--out", spark_out, "--shards", "3", "--buckets", "2",
        "--jobs", "1", "--row-cap", "300", "-q", "--test-fail-first-attempt", archive])
    if code != local_code:
        sys.exit(f"{label}: the Spark run exited {code}, the local run {local_code}")
    failed = sorted(os.listdir(os.path.join(work, "failed-attempts")))
    if failed != ["map-0", "map-1", "map-2", "merge-0", "merge-1"]:
        sys.exit(f"{label}: expected every task's first attempt to fail, got {failed}")
    # Retried attempts rewrote their partials under the same names: one file per task.
    maps = sorted(os.listdir(os.path.join(work, "map")))
    merges = sorted(os.listdir(os.path.join(work, "merge")))
    if len(maps) != 3 or len(merges) != 2:
        sys.exit(f"{label}: expected 3 map and 2 merge partials, got {maps} and {merges}")
    got = report_set(spark_out)
    if sorted(want) != sorted(got):
        sys.exit(f"{label}: report sets differ: {sorted(want)} vs {sorted(got)}")
    for report in want:
        if want[report] != got[report]:
            sys.exit(f"{label}: {report} differs between the local and the Spark run")
    print(f"spark smoke test, {label}: {len(want)} reports identical to the local run "
          f"(3 shards, 2 buckets, every first attempt failed and was retried)")


if __name__ == "__main__":
    main()
