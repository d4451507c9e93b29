#!/usr/bin/env bash
# Debian's Dovecot IMAP server, for tests/test_bounces_imap.py to read bounces over IMAP. The
# test starts its own dovecot (dovecot -F -c its config, in a temporary folder, as an
# unprivileged user, on a free port of 127.0.0.1); the system's service is never configured
# or used, and Debian's policy may leave it stopped. Idempotent; as root.
set -euo pipefail
if [ -x /usr/sbin/dovecot ] && dpkg-query -W -f='${Status}' dovecot-imapd 2>/dev/null \
    | grep -q "install ok installed"; then
    /usr/sbin/dovecot --version
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "bounces.sh: dovecot-imapd is missing; run this script as root to install it" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# .ci/run updates the package lists first; update here too when run on its own.
apt-get install -y -qq --no-install-recommends dovecot-imapd >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends dovecot-imapd >/dev/null; }
/usr/sbin/dovecot --version
