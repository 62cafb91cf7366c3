#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, then run the whole suite:
# ruff (lint + format), mypy, and pytest against real Dovecot, PostgreSQL and SMTP servers.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then
  echo "== installing Dovecot (Debian package dovecot-imapd) without starting its service"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # policy-rc.d answering 101 stops the package from starting the system-wide service.
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dovecot-imapd >/dev/null
fi

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "== installing PostgreSQL (Debian package postgresql) without starting its service"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # The tests start a cluster of their own (tests/servers.py), never the system's.
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
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
echo "== pytest";              "$VENV/bin/python" -m pytest "$@"
