#!/usr/bin/env bash
# Makes sure the Spark smoke test can run: Java 17 (from Debian's packages, when running as
# root on a machine without java) and a Python venv in scripts/.venv with pyspark 4 and its
# Spark Connect client, pyarrow and pandas<3 (pandas 3 makes PySpark warn on the mapInArrow
# path). Idempotent and quiet when
# everything is there.
set -euo pipefail
cd "$(dirname "$0")/../.."
# Installs Debian packages when we may (root, apt-get); otherwise says what is missing.
apt_install() {
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing $*" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    else
        echo "setup: the Spark test needs the packages $*: install them" >&2
        exit 1
    fi
}
command -v java >/dev/null 2>&1 || apt_install openjdk-17-jre-headless
venv=scripts/.venv
if ! "$venv/bin/python" -c 'import pyspark, pyarrow, pandas, grpc' >/dev/null 2>&1; then
    echo "setup: creating $venv with pyspark[connect], pyarrow and pandas<3" >&2
    rm -rf "$venv"
    # Debian's python3 makes venvs only with python3-venv installed.
    python3 -m venv "$venv" 2>/dev/null || { rm -rf "$venv"; apt_install python3-venv; python3 -m venv "$venv"; }
    "$venv/bin/pip" install -q 'pyspark[connect]==4.*' pyarrow 'pandas<3'
fi
