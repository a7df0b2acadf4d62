#!/usr/bin/env bash
# Installs amqtt (the second broker the integration tests run against, from PyPI) once, in a
# virtual environment of its own, and prints the path of its `amqtt` command.
set -euo pipefail
venv="${STOREFLEET_AMQTT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/storefleet/amqtt-venv}"
if [ -x "$venv/bin/amqtt" ] && "$venv/bin/python" -c 'import amqtt' 2>/dev/null; then
  echo "$venv/bin/amqtt"; exit 0
fi
echo "Installing amqtt from PyPI (once) into $venv" >&2
mkdir -p "$(dirname "$venv")"
if ! python3 -m venv "$venv" >&2; then
  # A Python without venv (Debian's, before python3-venv): the package manager has it.
  rm -rf "$venv"
  if command -v apt-get >/dev/null; then
    ${SUDO:-$( [ "$(id -u)" -eq 0 ] || echo sudo )} apt-get install -y -qq python3-venv >&2
  fi
  python3 -m venv "$venv" >&2
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'amqtt>=0.12,<0.13' >&2
echo "$venv/bin/amqtt"
