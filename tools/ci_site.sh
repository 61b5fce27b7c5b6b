#!/usr/bin/env bash
# CI: build the course site from the executed notebooks (build/notebooks/, written by the notebook tests) and check
# every page in headless Chromium: it loads, navigation and links resolve, images render; screenshots in
# build/site/screenshots/. Exits non-zero on any failure.
#
#   bash tools/ci_site.sh                  # install Chromium if missing, build the site, check it
#   bash tools/ci_site.sh --install-only   # only make sure Chromium is installed (.ci/run does this before the tests)
set -euo pipefail
cd "$(dirname "$0")/.."

have_chromium() { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }

# Debian's chromium package. `env` sets DEBIAN_FRONTEND for apt-get: a bare `$sudo VAR=value cmd` breaks as root,
# where $sudo is empty and the assignment lands in command position (exit 127). A fresh machine has no package
# lists yet, hence `apt-get update` first.
install_chromium() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing chromium (Debian package)"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        chromium fonts-liberation >/dev/null
    have_chromium || { echo "chromium is still not on PATH after apt-get install" >&2; exit 1; }
}

have_chromium || install_chromium
if [ "${1:-}" = "--install-only" ]; then exit 0; fi

python tools/build_site.py --check
echo "site: build/site/index.html; screenshots: build/site/screenshots/"
