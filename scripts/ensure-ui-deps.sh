#!/usr/bin/env bash
# Installs the UI's npm packages when package-lock.json changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/../ui"
stamp=node_modules/.storefleet-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "Installing UI packages (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  cp package-lock.json "$stamp"
fi
