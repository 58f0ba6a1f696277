#!/bin/sh
# Install Debian's Chromium for narcowatch's browser sources when it is missing (used by `make setup`).
# Playwright drives this system browser (NARCOWATCH_CHROMIUM overrides the path); `playwright install`
# is not needed. Usage: scripts/install-browser.sh [--check]
set -eu

find_browser() {
    if [ -n "${NARCOWATCH_CHROMIUM:-}" ] && [ -x "${NARCOWATCH_CHROMIUM}" ]; then
        echo "${NARCOWATCH_CHROMIUM}"; return 0
    fi
    for candidate in /usr/bin/chromium /usr/bin/chromium-browser /usr/lib/chromium/chromium; do
        if [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
    done
    command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null || return 1
}

if found=$(find_browser); then
    echo "chromium: $found"
    exit 0
fi
if [ "${1:-}" = "--check" ]; then
    echo "chromium: not found (run scripts/install-browser.sh, or set NARCOWATCH_CHROMIUM)" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium: not found and apt-get is not available; install Chromium with your package manager" \
         "and set NARCOWATCH_CHROMIUM to its executable" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "chromium: not found; run as root: apt-get install -y chromium" >&2; exit 1
    fi
fi
echo "chromium: installing Debian's chromium package..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation
found=$(find_browser) || { echo "chromium: installation finished but no browser was found" >&2; exit 1; }
echo "chromium: $found"
