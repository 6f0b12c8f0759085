#!/usr/bin/env python3
"""Run tala-bulk on Spark: plan on the driver, one map task per shard and one merge task per
record bucket on the executors, finalize on the driver. The reports equal those of one local
`tala-bulk` run over the same files, byte for byte (SPEC 3).

    python3 scripts/spark/tala_bulk_spark.py [--master URL | --remote URL] --bin PATH \\
        --work DIR --out DIR [--shards N] [--buckets B] [--jobs K] [tala-bulk options] PATH...

From a notebook (classic Spark, Spark Connect, Databricks shared or serverless compute):

    from tala_bulk_spark import run
    run(spark, ["/Volumes/sec/audit/exports"], bin="/Volumes/sec/tools/tala-bulk",
        work="/Volumes/sec/audit/work", out="/Volumes/sec/audit/reports", jobs=4)

How it stays exact when Spark retries or duplicates tasks:
- the tasks are `mapInArrow` over `spark.range(n, numPartitions=n)`, one item per task, with
  no RDD API (missing on Spark Connect, Databricks shared and serverless compute);
- each task runs the binary as a subprocess, which writes its partial state to a temporary
  name, syncs it and renames it to a name made from its content: a retried or speculative
  attempt writes the same bytes under the same name;
- the driver collects the names the tasks return and hands them on (its manifests), never a
  directory listing, so the leftovers of a failed attempt are never read;
- merge is idempotent per input file, so even a partial handed on twice counts once.

Inputs, the binary and --work must be paths every executor sees: local disk in local mode, NFS,
or a FUSE mount such as Databricks /Volumes.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

# Options that change results: every stage gets them (tala-bulk refuses partials made with
# others). The users database is only read and written by finalize, on the driver.
VALUE_OPTIONS = ["--row-cap", "--ip", "--cidr", "--max-gap"]
FLAG_OPTIONS = ["--audit-only", "--excel-safe"]


class StageFailed(RuntimeError):
    """A tala-bulk stage exited with a failure code."""


def _call(cmd, what, ok=(0,)):
    """Runs a tala-bulk stage; returns its stdout, stderr and exit code. Raises with the exit
    code and the tail of stderr on failure, so Spark retries the task and the driver shows
    why."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode not in ok:
        tail = "\n".join(err.strip().splitlines()[-20:])
        raise StageFailed(f"tala-bulk {what} exited with code {proc.returncode}:\n{tail}")
    return proc.stdout.decode("utf-8", "replace"), err, proc.returncode


def _result_args(options):
    """The result-changing options as tala-bulk arguments, in a fixed order."""
    args = []
    for name in VALUE_OPTIONS:
        values = options.get(name)
        if values is None:
            continue
        for v in values if isinstance(values, (list, tuple)) else [values]:
            args += [name, str(v)]
    for name in FLAG_OPTIONS:
        if options.get(name):
            args.append(name)
    return args


def _task(kind, bin_path, plan_path, work, jobs, result_args, inputs, fail_first_attempt):
    """The function each Spark task runs: a map of one shard or a merge of one bucket. It
    returns the partial's path as one Arrow row. Only plain values are captured, so it pickles
    on classic Spark and on Spark Connect alike."""

    def fn(batches):
        import pyarrow as pa

        for batch in batches:
            ids = batch.column(0).to_pylist()
            paths = []
            for item in ids:
                if kind == "map":
                    cmd = [bin_path, "map", "--plan", plan_path, "--shard", str(item),
                           "--out", os.path.join(work, "map"), "--jobs", str(jobs), "-q"]
                else:
                    cmd = [bin_path, "merge", "--bucket", str(item),
                           "--out", os.path.join(work, "merge"), "--jobs", str(jobs), "-q"]
                cmd += result_args
                if kind == "merge":
                    cmd += inputs
                out, _, _ = _call(cmd, f"{kind} {item}")
                paths.append(out.strip())
                if fail_first_attempt:
                    # Test-only: the attempt did its work (its file is on disk) and then fails,
                    # as an executor lost after writing would; Spark must retry it.
                    from pyspark import TaskContext

                    ctx = TaskContext.get()
                    if ctx is not None and ctx.attemptNumber() == 0:
                        marker = os.path.join(work, "failed-attempts", f"{kind}-{item}")
                        os.makedirs(os.path.dirname(marker), exist_ok=True)
                        open(marker, "w").close()
                        raise RuntimeError(f"test: failing the first attempt of {kind} {item}")
            yield pa.RecordBatch.from_arrays(
                [pa.array(ids, pa.int64()), pa.array(paths, pa.string())], names=["item", "partial"]
            )

    return fn


def _stage(spark, n, fn):
    """Runs `fn` as n Spark tasks, one item each, and returns the partial paths by item."""
    try:
        rows = spark.range(0, n, 1, n).mapInArrow(fn, "item long, partial string").collect()
    except StageFailed:
        raise
    except Exception as e:  # Spark wraps the task's error; its text holds the binary's.
        text = str(e)
        at = text.find("StageFailed")
        raise StageFailed(text[at:at + 4000] if at >= 0 else text[-4000:]) from None
    by_item = {}
    for row in rows:
        by_item[row["item"]] = row["partial"]
    missing = [i for i in range(n) if i not in by_item]
    if missing:
        raise StageFailed(f"tasks {missing} returned no partial")
    return [by_item[i] for i in range(n)]


def run(spark, paths, *, bin, work, out, shards=None, buckets=8, jobs=1, row_cap=None,
        ip=None, cidr=(), max_gap=None, audit_only=False, excel_safe=False, users=None,
        since=None, until=None, sites=None, tz=None, quiet=False, fail_first_attempt=False):
    """Runs tala-bulk over `paths` on `spark` and writes the reports into `out`. Returns
    finalize's exit code (0, or 1 when some input was skipped). Raises StageFailed when a
    stage fails for good."""
    if __name__ != "__main__":
        # The tasks' functions are defined in this module, which executors cannot import (it
        # is not installed there): ship it by value with them.
        from pyspark import cloudpickle

        cloudpickle.register_pickle_by_value(sys.modules[__name__])
    bin_path = os.path.abspath(bin)
    work = os.path.abspath(work)
    for p in paths:
        p = os.path.abspath(p)
        for inside in (work, os.path.abspath(out)):
            if os.path.commonpath([inside, p]) == p:
                # plan walks the whole PATH: it would read the partials (or reports) as inputs.
                raise StageFailed(f"{inside} is inside the input {p}: put --work and --out "
                                  f"elsewhere")
    os.makedirs(work, exist_ok=True)
    result_args = _result_args({
        "--row-cap": row_cap, "--ip": ip, "--cidr": list(cidr), "--max-gap": max_gap,
        "--audit-only": audit_only, "--excel-safe": excel_safe,
    })
    # 1. plan, on the driver. Named by content, like the partials, so a rerun reuses it.
    plan_cmd = [bin_path, "plan", "--buckets", str(buckets)]
    if shards:
        plan_cmd += ["--shards", str(shards)]
    plan_text, _, _ = _call(plan_cmd + result_args + [os.path.abspath(p) for p in paths], "plan")
    plan = json.loads(plan_text)
    plan_path = os.path.join(work, f"plan-{hashlib.sha256(plan_text.encode()).hexdigest()[:16]}.json")
    if not os.path.exists(plan_path):
        fd, tmp = tempfile.mkstemp(dir=work, prefix=".plan-")
        with os.fdopen(fd, "w") as f:
            f.write(plan_text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, plan_path)
    n_shards, n_buckets = len(plan["shards"]), plan["buckets"]
    # 2. map, one task per shard.
    maps = _stage(spark, n_shards, _task("map", bin_path, plan_path, work, jobs, result_args,
                                         None, fail_first_attempt))
    # 3. merge, one task per bucket, each over every map partial (the driver's manifest).
    merges = _stage(spark, n_buckets, _task("merge", bin_path, None, work, jobs, result_args,
                                            maps, fail_first_attempt))
    # 4. finalize, on the driver: the same reports as a local run.
    cmd = [bin_path, "finalize", "--out", os.path.abspath(out), "--jobs", str(jobs)]
    if users:
        cmd += ["--users", os.path.abspath(users)]
    # The window only selects meetings for the reports: partials do not depend on it.
    if since:
        cmd += ["--since", since]
    if until:
        cmd += ["--until", until]
    # The building file and the time zone place the drops; finalize reads the file on the
    # driver, so only the driver needs it.
    if sites:
        cmd += ["--sites", os.path.abspath(sites)]
    if tz:
        cmd += ["--tz", tz]
    if quiet:
        cmd.append("-q")
    # 1 means "written, but some input was skipped", as for a local run.
    _, err, code = _call(cmd + result_args + merges, "finalize", ok=(0, 1))
    sys.stderr.write(err)
    return code


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Run tala-bulk on Spark: map per shard, merge per bucket, reports equal to "
                    "one local run.")
    p.add_argument("--master", help="Spark master URL, e.g. local[4] or yarn (spark-submit "
                                     "sets it otherwise)")
    p.add_argument("--remote", help="Spark Connect URL, e.g. sc://host:15002")
    p.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                   help="a Spark setting, e.g. spark.task.cpus=4 (repeatable)")
    p.add_argument("--bin", required=True, help="the tala-bulk binary, on a path every "
                                                "executor sees")
    p.add_argument("--work", required=True, help="directory for the plan and the partial "
                                                 "states, seen by every executor")
    p.add_argument("--out", required=True, help="directory the reports are written to")
    p.add_argument("--shards", type=int, help="map tasks (default: one per 1 GiB of input)")
    p.add_argument("--buckets", type=int, default=8, help="merge tasks (default 8)")
    p.add_argument("--jobs", type=int, default=1,
                   help="threads per task; set spark.task.cpus to the same number")
    p.add_argument("--row-cap", type=int)
    p.add_argument("-i", "--ip")
    p.add_argument("--cidr", action="append", default=[])
    p.add_argument("--max-gap", type=int)
    p.add_argument("--audit-only", action="store_true")
    p.add_argument("--excel-safe", action="store_true")
    p.add_argument("-u", "--users")
    p.add_argument("--since", help="report meetings first joined at or after TIME (UTC)")
    p.add_argument("--until", help="report meetings first joined before TIME (UTC)")
    p.add_argument("--sites", help="Call Quality Dashboard building file (read on the driver)")
    p.add_argument("--tz", help="time zone of timeline.csv: UTC, +02:00 or Europe/Berlin")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--test-fail-first-attempt", action="store_true",
                   help=argparse.SUPPRESS)
    p.add_argument("paths", nargs="+", metavar="PATH")
    a = p.parse_args(argv)

    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("tala-bulk")
    if a.remote:
        # `--remote local[N]` starts a Spark Connect server in local mode (tests, trials).
        builder = builder.remote(a.remote)
    elif a.master:
        builder = builder.master(a.master)
    if (a.remote or a.master or "").startswith("local"):
        # Local mode talks to itself only: stay on loopback.
        builder = (builder.config("spark.driver.host", "127.0.0.1")
                   .config("spark.driver.bindAddress", "127.0.0.1")
                   .config("spark.connect.grpc.binding.address", "127.0.0.1")
                   .config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false"))
    for setting in a.conf:
        key, sep, value = setting.partition("=")
        if not sep:
            p.error(f"--conf {setting!r}: expected KEY=VALUE")
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    try:
        return run(spark, a.paths, bin=a.bin, work=a.work, out=a.out, shards=a.shards,
                   buckets=a.buckets, jobs=a.jobs, row_cap=a.row_cap, ip=a.ip, cidr=a.cidr,
                   max_gap=a.max_gap, audit_only=a.audit_only, excel_safe=a.excel_safe,
                   users=a.users, since=a.since, until=a.until, sites=a.sites, tz=a.tz,
                   quiet=a.quiet, fail_first_attempt=a.test_fail_first_attempt)
    except StageFailed as e:
        sys.stderr.write(f"tala_bulk_spark: {e}\n")
        return 3
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
