#!/usr/bin/env bash
# Makes sure the Spark smoke test can run: Java 17 (from Debian's packages, when running as
# root on a machine without java) and a Python venv in scripts/.venv with pyspark 4 and its
# Spark Connect client, pyarrow and pandas<3 (pandas 3 makes PySpark warn on the mapInArrow
# path). Idempotent and quiet when
# everything is there.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v java >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing Java 17 (openjdk-17-jre-headless)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
    else
        echo "setup: Java 17 is needed for the Spark test: install openjdk-17-jre-headless" >&2
        exit 1
    fi
fi
venv=scripts/.venv
if ! "$venv/bin/python" -c 'import pyspark, pyarrow, pandas, grpc' >/dev/null 2>&1; then
    echo "setup: creating $venv with pyspark[connect], pyarrow and pandas<3" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'pyspark[connect]==4.*' pyarrow 'pandas<3'
fi
