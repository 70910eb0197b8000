#!/usr/bin/env bash
# Make sure Debian's headless-capable Chromium is at /usr/bin/chromium (the browser tests drive it with
# Playwright's `executable_path`; Playwright's own browser download is not used). Idempotent and quiet
# when Chromium is already there. Needs root (CI and the dev machines run as root) or sudo.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "ensure-chromium: $CHROMIUM is missing and we are not root; install Debian's 'chromium' package" >&2
        exit 1
    fi
fi

echo "ensure-chromium: installing Debian's chromium package (one time)..." >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
if [ ! -x "$CHROMIUM" ]; then
    echo "ensure-chromium: apt-get finished but $CHROMIUM is still missing" >&2
    exit 1
fi
"$CHROMIUM" --version >&2
