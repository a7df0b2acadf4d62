#!/usr/bin/env bash
# Sets up what is missing and runs every check and test Storefleet has: formatting, lints,
# the Rust tests (against a real mosquitto), the UI's type check and unit tests, and an
# end-to-end test of the real desktop window under Xvfb. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

started=$SECONDS
# Each step with the minutes and seconds since the start, so a slow or stuck step shows in CI's log.
step() { printf '\n==> [%dm%02ds] %s\n' $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)) "$*"; }

step "Setting up (only what is missing)"
scripts/ensure-debian-packages.sh test
scripts/ensure-ui-deps.sh
scripts/ensure-tauri-driver.sh
amqtt_bin=$(scripts/ensure-amqtt.sh)
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

work=$(mktemp -d /tmp/storefleet-test.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # port, what
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$2 did not start on port $1" >&2; return 1
}

step "Starting mosquitto on a free loopback port"
port=$(free_port)
# No queue or in-flight limits: with mosquitto's defaults a subscriber that falls behind
# silently loses QoS 1 messages (see shared/RECIPES.md).
cat >"$work/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
max_inflight_messages 0
CONF
mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
pids+=($!)
wait_port "$port" mosquitto
export STOREFLEET_TEST_BROKER="mqtt://127.0.0.1:$port"
export STOREFLEET_TEST_MOSQUITTO="$(command -v mosquitto)"
echo "mosquitto at $STOREFLEET_TEST_BROKER"

step "Starting amqtt (the second broker implementation) on a free loopback port"
port2=$(free_port)
cat >"$work/amqtt.yaml" <<CONF
---
listeners:
  default:
    type: tcp
    bind: 127.0.0.1:$port2
plugins:
  amqtt.plugins.authentication.AnonymousAuthPlugin:
    allow_anonymous: true
CONF
"$amqtt_bin" -c "$work/amqtt.yaml" >"$work/amqtt.log" 2>&1 &
pids+=($!)
wait_port "$port2" amqtt
export STOREFLEET_TEST_BROKER2="mqtt://127.0.0.1:$port2"
# Tests that restart the broker, or need its persistent sessions, start private ones.
export STOREFLEET_TEST_AMQTT="$amqtt_bin"
echo "amqtt at $STOREFLEET_TEST_BROKER2"

step "Starting Xvfb"
display=99
while [ -e "/tmp/.X11-unix/X$display" ] || [ -e "/tmp/.X$display-lock" ]; do display=$((display + 1)); done
Xvfb ":$display" -screen 0 1280x800x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X$display" ] && break; sleep 0.1; done
export DISPLAY=":$display"

step "Building the UI (the desktop binary embeds it)"
(cd ui && npm run --silent build >/dev/null)

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "UI type check and unit tests"
(cd ui && npm run --silent check && npx vitest run)

step "UI in headless Chromium: every view with the IPC mocked (screenshots in .artifacts/)"
(cd ui && npm run --silent test:browser)

step "Rust tests (core against mosquitto, desktop, generated TS bindings)"
cargo build --workspace --quiet
# Broker passwords live in the OS keychain: the profile tests use a real one.
scripts/with-keychain.sh cargo test --workspace

step "End-to-end: the real window under Xvfb (demo mode; screenshots of every view)"
# In a private D-Bus session: what the app and WebKit start on the bus (accessibility bus,
# notification attempts) ends with it instead of outliving the test.
# No accessibility bus: nothing drives the window through it, and its daemons are the
# processes most likely to outlive the test. --test-force-exit and the timeout: a run whose
# tests have ended must not wait on anything they left behind (one CI run hung past its
# limit right after the e2e summary); on a timeout, what was still running is listed.
if ! NO_AT_BRIDGE=1 GTK_A11Y=none timeout --kill-after=15 20m \
  dbus-run-session -- node --test --test-force-exit --test-concurrency=1 --test-reporter=spec tests/e2e/; then
  echo "end-to-end failed or timed out; processes still running:" >&2
  ps -eo pid,ppid,etime,args --forest >&2 || true
  exit 1
fi
echo "screenshots in .artifacts/screenshots (scripts/refresh-screenshots.sh copies them to docs/screenshots/)"

step "Debian package (release build, so that packaging cannot rot)"
scripts/build-deb.sh
deb=$(ls -1t "${CARGO_TARGET_DIR:-target}"/release/bundle/deb/*.deb | head -1)
dpkg-deb --info "$deb" | grep -E 'Package|Version|Depends'
dpkg-deb --contents "$deb" | grep -qE ' (\./)?usr/bin/storefleet-desktop$' \
  || { echo "$deb has no usr/bin/storefleet-desktop" >&2; exit 1; }
