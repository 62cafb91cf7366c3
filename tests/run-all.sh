#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, then run the whole suite:
# ruff (lint + format), mypy, and pytest against real Dovecot, PostgreSQL and SMTP servers.
set -euo pipefail
cd "$(dirname "$0")/.."

install_debian() {  # PACKAGE WHY: install it without letting it start a system service
  echo "== installing $1 ($2) without starting its service"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # policy-rc.d answering 101 stops the package from starting the system-wide service:
  # the tests start servers of their own (tests/servers.py), never the system's.
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$1" >/dev/null
}

if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then
  install_debian dovecot-imapd "IMAP server of the mail tests"
fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  install_debian postgresql "database of the tests that run on PostgreSQL too"
fi

if ! command -v dnsmasq >/dev/null 2>&1; then
  install_debian dnsmasq-base "DNS server with the test zones of the automatic checks"
fi
if ! command -v chromium >/dev/null 2>&1; then
  install_debian chromium "headless browser that renders the report page in its test"
fi

VENV="${MAILTICKETS_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q -e '.[test]'

echo "== ruff check";          "$VENV/bin/ruff" check .
echo "== ruff format --check"; "$VENV/bin/ruff" format --check .
echo "== mypy";                "$VENV/bin/mypy"
echo "== import contract";     "$VENV/bin/lint-imports" --no-cache
# Three test files at a time (each in one process, with its own Dovecot and PostgreSQL):
# most of the suite's time is servers waiting, and 2 cores stay busy. Arguments are
# passed on (e.g. `-n 0` for one process, or a test path).
echo "== pytest";              "$VENV/bin/python" -m pytest -n 3 --dist loadfile "$@"
