#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed (apt, when run as root) and prints the variable the browser tests
# read, as a shell assignment:
#
#     eval "$(scripts/install-browser.sh)"    # sets PAYWIRE_CHROMIUM
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2
  fi
fi
browser=$(command -v chromium || true)
[ -n "$browser" ] || { echo "no chromium: install Debian's chromium package (the browser tests run it headless)" >&2; exit 1; }
echo "export PAYWIRE_CHROMIUM='$browser'"
