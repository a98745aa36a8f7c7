#!/usr/bin/env bash
# Run a command (the test suite) with what the kind end-to-end tests need: a Docker engine (scripts/kind/engine.sh)
# and the locally built kind node images for KIND_VERSIONS (scripts/kind/build_images.py, cached by their
# inputs). The engine is stopped afterwards when this script started it. The command's exit code is kept.
#
# Without root (no engine can be installed or started, no debootstrap) the command still runs and the tests marked
# `docker` report themselves as skipped, with the reason.
#
# PYTHON runs scripts/kind/build_images.py, which imports harness: `make` passes its .venv's python; run by hand, the
# default is .venv/bin/python when the project's virtual environment exists, python3 otherwise.
#
# Usage: [PYTHON=.venv/bin/python] KIND_VERSIONS="1.27 1.28" scripts/kind/with_engine.sh COMMAND [ARG...]
set -uo pipefail
cd "$(dirname "$0")/../.."
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
read -r -a versions <<<"${KIND_VERSIONS:-1.27 1.28}"

if [[ "$(id -u)" != 0 ]]; then
  echo "with_engine: not root: no Docker engine for the kind end-to-end tests (they will be reported skipped)" >&2
  exec "$@"
fi

started=0
bash scripts/kind/engine.sh status >/dev/null 2>&1 || started=1
stop() { if (( started )); then bash scripts/kind/engine.sh stop; fi; }
trap stop EXIT
trap 'exit 130' INT TERM

bash scripts/kind/engine.sh start || exit 3
t0=$(date +%s)
"$PYTHON" scripts/kind/build_images.py "${versions[@]}" --workload --addons || exit 3
echo "with_engine: kind node images ready in $(( $(date +%s) - t0 ))s" >&2
"$@"
