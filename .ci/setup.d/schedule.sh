#!/usr/bin/env bash
# systemd-analyze, for tests/test_deploy.py to check deploy/'s units with `systemd-analyze
# verify` (it reads unit files only: no running systemd is needed). Debian ships systemd on
# most machines; install it where it is missing. Idempotent; not root: skip (the test skips).
set -euo pipefail
if command -v systemd-analyze >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "schedule.sh: not root, skipping systemd (tests/test_deploy.py will skip its check)" >&2
    exit 0
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends systemd >/dev/null; }
systemd-analyze --version | head -n 1
