#!/usr/bin/env bash
# srd — the README's two commands, and the set-up they need on a fresh Debian machine.
#
#   ./run.sh main    simulate a SPOT-6 pass over Mont Ventoux and process it end to end (embedded defaults)
#   ./run.sh test    run the test suite (extra arguments go to pytest)
#   ./run.sh setup   only install (Debian packages as root, the Python virtualenv)
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages: external references the tests compare against, and servers the tests start.
APT_PACKAGES=(gdal-bin otb-bin libfec-dev postgresql postgresql-15-postgis-3 chromium)
PYTHON=${PYTHON:-python3}

setup() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "run.sh: installing Debian packages: ${missing[*]}" >&2
    local SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  # reinstall only when the dependency list changed
  local stamp=.venv/.srd-installed sum
  sum=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    echo "run.sh: installing Python dependencies into .venv" >&2
    .venv/bin/python -m pip install -q --upgrade pip >.venv/pip.log 2>&1 || { cat .venv/pip.log; exit 1; }
    .venv/bin/python -m pip install -q -e '.[test]' >>.venv/pip.log 2>&1 || { cat .venv/pip.log; exit 1; }
    .venv/bin/python -c "import srd, decode, telemetry, station_config" 
    echo "$sum" > "$stamp"
  fi
}

cmd=${1:-help}; shift || true
case "$cmd" in
  setup) setup ;;
  main)  setup; exec .venv/bin/srd demo "$@" ;;
  test)  setup; exec .venv/bin/python -m pytest "$@" ;;
  *) sed -n '2,8p' "$0"; exit 2 ;;
esac
