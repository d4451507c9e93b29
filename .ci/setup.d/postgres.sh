#!/usr/bin/env bash
# Debian's PostgreSQL server, for the tests that run on a real PostgreSQL: they create and
# start a throwaway cluster of their own (initdb as the postgres user, loopback only), so the
# Debian cluster is neither started nor changed. Idempotent; not root: skip (those tests skip
# loudly, or fail under CI=true).
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "postgres.sh: not root, skipping postgresql (the PostgreSQL tests will skip)" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d or no init system: the package's own cluster is not started, which is fine.
apt-get install -y -qq --no-install-recommends postgresql >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }
ls /usr/lib/postgresql/*/bin/initdb
