#!/usr/bin/env bash
# What the digest's tests need, on a fresh Debian machine, as root; safe to run again.
#   chromium              the real browser of tests/browser, driven by Playwright's Python
#                         package (pyproject's dev extra; its driver is in the wheel, so never
#                         `playwright install`)
#   fonts-noto-core       Arabic glyphs for the screenshots
#   default-jre-headless  runs the Nu HTML checker, npm's vnu-jar, kept in .cache/vnu
#   spamassassin          scores the digest offline with the rules Debian's package ships
#                         (sa-update would need the network, which CI does not have)
# The Python packages come from `make test`, which installs .[dev] into .venv.
set -euo pipefail
cd "$(dirname "$0")/../.."

VNU_VERSION=26.9.27
PACKAGES=(chromium fonts-noto-core default-jre-headless spamassassin)

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for package in "${PACKAGES[@]}"; do
    installed "$package" || missing+=("$package")
done
# npm runs once, to fetch vnu-jar; a Node.js that brings its own npm (NodeSource) is enough.
command -v npm >/dev/null || missing+=(nodejs npm)

if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "digest.sh: missing ${missing[*]}; run this script as root to install them" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # .ci/run updates the package lists first; update here too when run on its own.
    apt-get install -y --no-install-recommends "${missing[@]}" \
        || { apt-get update -qq && apt-get install -y --no-install-recommends "${missing[@]}"; }
fi

# The Nu HTML checker, pinned; --ignore-scripts: its postinstall would download a Java.
jar=.cache/vnu/node_modules/vnu-jar/build/dist/vnu.jar
manifest=.cache/vnu/node_modules/vnu-jar/package.json
if [ ! -f "$jar" ] || ! grep -q "\"version\": \"$VNU_VERSION\"" "$manifest" 2>/dev/null; then
    mkdir -p .cache/vnu
    npm install --prefix .cache/vnu --no-audit --no-fund --ignore-scripts --no-save \
        "vnu-jar@$VNU_VERSION"
fi

# Show what the tests will find.
chromium --version 2>/dev/null | head -n 1
java -version 2>&1 | head -n 1
java -jar "$jar" --version
spamassassin --version | head -n 1
