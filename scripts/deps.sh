#!/bin/sh
# Installs the Debian packages byokwatch builds and tests with, when missing.
# As root: apt-get install -y. Otherwise through sudo when it works without a
# password prompt; else prints the exact command and fails.
# Usage: scripts/deps.sh [extra-package ...]
set -eu

# prometheus-alertmanager and rsyslog are peers the sink tests start
# themselves (tests/peers.h), with their own configs and ports. chromium
# renders the HTML report headless in tests/test_report_html.c.
PKGS="gcc make pkg-config librocksdb-dev libjansson-dev libcurl4-openssl-dev \
libevent-dev libssl-dev libcmocka-dev libsqlite3-dev prometheus-alertmanager rsyslog curl \
chromium $*"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing" >&2
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "deps: missing Debian packages; run as root:" >&2
    echo "  apt-get update && apt-get install -y$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! $SUDO apt-get install -y --no-install-recommends $missing >/dev/null; then
    $SUDO apt-get update >/dev/null
    $SUDO apt-get install -y --no-install-recommends $missing >/dev/null
fi
