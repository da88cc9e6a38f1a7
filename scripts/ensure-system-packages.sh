#!/usr/bin/env bash
# Test tooling: make sure the Debian packages the test suite needs are installed.
# PostgreSQL's server binaries (initdb, pg_ctl): the suite starts a throwaway cluster
# from them in a temporary folder. Debian's Chromium (/usr/bin/chromium): the campaign
# pages' browser test drives it with Playwright; Playwright's own browser downloads are
# never used. Installs with apt-get when missing (needs root).
set -euo pipefail

have_postgres() {
  command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ] && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

missing=()
have_postgres || missing+=(postgresql)
command -v runuser >/dev/null 2>&1 || missing+=(util-linux)
[ -x /usr/bin/chromium ] || missing+=(chromium)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages: ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing system packages for the tests: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
