#!/usr/bin/env bash
# Copies the screenshots of the last test run (.artifacts/screenshots/, or
# STOREFLEET_SCREENSHOTS) into docs/screenshots/ for the README. Tests never write there
# themselves, so a test run leaves the tree clean and the committed pictures change only
# when someone runs this. Without arguments it refreshes the pictures already committed
# (browser tests: NAME.png; the real window: app-NAME.png); name others to add them:
#   scripts/refresh-screenshots.sh              # refresh every committed picture found
#   scripts/refresh-screenshots.sh fleet app-overview   # only these (new ones too)
set -euo pipefail
cd "$(dirname "$0")/.."
src=${STOREFLEET_SCREENSHOTS:-.artifacts/screenshots}
dst=docs/screenshots

if [ "$#" -gt 0 ]; then
  names=("$@")
else
  names=()
  for f in "$dst"/*.png; do names+=("$(basename "$f" .png)"); done
fi

copied=0
missing=()
for name in "${names[@]}"; do
  name=${name%.png}
  if [ -f "$src/$name.png" ]; then
    cp "$src/$name.png" "$dst/$name.png"
    copied=$((copied + 1))
  else
    missing+=("$name")
  fi
done
echo "copied $copied screenshot(s) from $src to $dst"
if [ "${#missing[@]}" -gt 0 ]; then
  echo "not in $src (left as committed): ${missing[*]}"
fi
# Naming a picture that the last run did not take is a mistake; refreshing all is not.
if [ "$#" -gt 0 ] && [ "${#missing[@]}" -gt 0 ]; then exit 1; fi
