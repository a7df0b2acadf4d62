#!/usr/bin/env bash
# Installs tauri-driver 2.x once; later runs find it in ~/.cargo/bin.
# Pinned to 2.x: crates.io also serves 3.0 alphas.
set -euo pipefail
bin="${CARGO_HOME:-$HOME/.cargo}/bin/tauri-driver"
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q ' 2\.'; then exit 0; fi
echo "Installing tauri-driver 2.x (cargo install, a few minutes once)" >&2
cargo install tauri-driver --version '^2' --locked --quiet >&2
