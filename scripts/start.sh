#!/usr/bin/env bash
# Sets up what is missing and starts the Storefleet desktop app.
# Usage: scripts/start.sh [--release]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-debian-packages.sh build
scripts/ensure-ui-deps.sh
(cd ui && npm run --silent build >/dev/null)

profile=()
[ "${1:-}" = --release ] && profile=(--release)
exec cargo run "${profile[@]}" -p storefleet-desktop --bin storefleet-desktop
