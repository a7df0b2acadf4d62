#!/usr/bin/env bash
# Runs a command with a working OS keychain on a headless Linux machine: a private D-Bus
# session with GNOME Keyring's Secret Service (unlocked with a throwaway password) and a
# kernel session keyring, which is what keyring's `linux-native-sync-persistent` store uses.
# Packages: dbus (dbus-run-session), gnome-keyring, keyutils.
set -euo pipefail
if [ "${STOREFLEET_IN_KEYCHAIN:-}" != 1 ]; then
  export STOREFLEET_IN_KEYCHAIN=1
  exec dbus-run-session -- keyctl session - "$0" "$@"
fi
# gnome-keyring-daemon prints the environment to export; --unlock reads the password on stdin.
eval "$(printf 'storefleet-test\n' | gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL
exec "$@"
