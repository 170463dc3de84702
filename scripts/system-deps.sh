#!/usr/bin/env bash
# Install the Debian packages the kiosk and its tests need, only those that are missing.
# Run as root on a fresh Debian 12 machine (make demo / make test call this).
set -euo pipefail

PYTHON=${PYTHON:-python3}
packages=(
  libzbar0          # pyzbar's decoder
  libpcsclite-dev   # pyscard builds against winscard.h
  pcscd             # PC/SC daemon (ID badges and passports)
  vsmartcard-vpcd   # virtual PC/SC reader driver: the tests' passports and badges are Python cards on it
  socat             # handy serial stand-ins for technicians
  postgresql-15     # the ledger tests and make bench start throwaway port-ledger clusters (never the stock one)
  chromium          # the kiosk browser, and the browser tests
  fonts-wqy-microhei  # Chinese glyphs on the screen and in screenshots
  fonts-dejavu-core
  tzdata
  gcc
  libc6-dev         # C headers for what pip compiles (pyscard, evdev); gcc alone only recommends them
  linux-libc-dev    # <linux/input.h>: evdev builds its key-code tables from it
)
# A Python without its headers or venv module needs Debian's packages for them.
if ! "$PYTHON" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
  packages+=(python3-dev)
fi
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
  packages+=(python3-venv)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]}" >&2
  echo "run as root, or: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
