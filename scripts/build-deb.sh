#!/usr/bin/env bash
# Builds the desktop app in release mode and packages it as a .deb:
#   ${CARGO_TARGET_DIR:-target}/release/bundle/deb/Storefleet_<version>_<arch>.deb
# Extra arguments go to `tauri build` (e.g. --verbose). macOS and Windows: run
# `npx tauri build` from ui/ with TAURI_APP_PATH=src-tauri on those systems (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-debian-packages.sh build
scripts/ensure-ui-deps.sh
# The Tauri CLI finds the app through this variable: tauri.conf.json sits at the root,
# linked from src-tauri/ (shared/RECIPES.md).
TAURI_APP_PATH=src-tauri ui/node_modules/.bin/tauri build --bundles deb "$@"
ls -1 "${CARGO_TARGET_DIR:-target}"/release/bundle/deb/*.deb
