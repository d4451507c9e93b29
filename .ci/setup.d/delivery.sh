#!/usr/bin/env bash
# Postfix's smtp-sink and smtp-source, the loopback ceiling bench/delivery.py measures against.
# Installed without configuring or starting the mail system ("No configuration"); idempotent.
set -euo pipefail
if command -v smtp-sink >/dev/null 2>&1 || [ -x /usr/sbin/smtp-sink ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "delivery.sh: not root, skipping postfix (bench/delivery.py needs smtp-sink)" >&2
    exit 0
fi
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postfix >/dev/null
# Debian may start the daemon on install; with "No configuration" it has nothing to run.
