#!/usr/bin/env bash
# Makes sure a Redis server is installed (Debian's redis-server, through apt when run as root) and prints the
# variable the end-to-end tests read, as a shell assignment:
#
#     eval "$(scripts/install-redis.sh)"    # sets PAYWIRE_REDIS_SERVER
set -euo pipefail
if ! command -v redis-server >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >&2
  fi
fi
server=$(command -v redis-server || true)
[ -n "$server" ] || { echo "no redis-server: install Debian's redis-server package (the shared-store tests run one)" >&2; exit 1; }
echo "export PAYWIRE_REDIS_SERVER='$server'"
