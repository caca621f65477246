#!/usr/bin/env bash
# Makes sure a PostgreSQL server is installed (Debian's postgresql, through apt when run as root) and prints the
# variable the end-to-end tests and benchmarks read, as a shell assignment:
#
#     eval "$(scripts/install-postgres.sh)"    # sets PAYWIRE_POSTGRES_BIN (the directory of initdb and postgres)
set -euo pipefail
find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ -z "$(find_bin)" ] && ! command -v initdb >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
  fi
fi
bin=$(find_bin)
[ -n "$bin" ] || bin=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
[ -x "$bin/initdb" ] && [ -x "$bin/postgres" ] || {
  echo "no PostgreSQL server: install Debian's postgresql package (the shared-facilitator tests run one)" >&2
  exit 1
}
echo "export PAYWIRE_POSTGRES_BIN='$bin'"
