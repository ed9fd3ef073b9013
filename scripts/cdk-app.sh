#!/usr/bin/env bash
# cdk.json's app command: the app on the venv's Python and Node 24, so `npx cdk ...` works in
# any shell without activating the venv first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[[ -x $root/.venv/bin/python ]] || { echo "error: $root/.venv is missing: run 'make synth' once to build it" >&2 && exit 1; }
PATH="$root/.venv/bin:$PATH" exec "$root/.venv/bin/python" "$root/app.py" "$@"
