#!/usr/bin/env bash
# Install the project with its test dependencies (and Debian's Chromium for the browser test), then run
# the whole test suite. This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e ".[test]"
python3 scripts/ensure_chromium.py || true
exec python3 -m pytest "$@"
