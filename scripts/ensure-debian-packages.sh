#!/usr/bin/env bash
# Installs the Debian packages Storefleet needs, only those missing.
# Usage: scripts/ensure-debian-packages.sh build|test
# Why a script: a fresh machine must reach a green run from the README alone.
set -euo pipefail

build_pkgs=(libwebkit2gtk-4.1-dev build-essential curl wget file libxdo-dev libssl-dev
  libayatana-appindicator3-dev librsvg2-dev libdbus-1-dev pkg-config)
# keyutils, gnome-keyring, dbus: a real keychain for the profile tests (scripts/with-keychain.sh);
# chromium: the UI's browser tests; python3-venv: amqtt, the second test broker, in a venv.
test_pkgs=(mosquitto xvfb xauth webkit2gtk-driver imagemagick keyutils gnome-keyring dbus chromium
  python3-venv)

want=("${build_pkgs[@]}")
if [ "${1:-build}" = test ]; then want+=("${test_pkgs[@]}"); fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing Debian packages: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >&2
# mosquitto's Debian service would hold port 1883; tests start their own broker.
if printf '%s\n' "${missing[@]}" | grep -qx mosquitto; then
  $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi
