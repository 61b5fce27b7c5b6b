#!/usr/bin/env bash
# CI: build the course site from the executed notebooks (build/notebooks/, written by the notebook tests) and check
# every page in headless Chromium: it loads, navigation and links resolve, images render; screenshots in
# build/site/screenshots/. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    echo "installing chromium (Debian package)"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

python tools/build_site.py --check
echo "site: build/site/index.html; screenshots: build/site/screenshots/"
