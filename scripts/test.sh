#!/usr/bin/env bash
# Installs what is missing, then runs the whole test suite: lint, type checks, the
# layers' import contracts, the web app's type check and unit tests (Vitest), and pytest
# (unit, integration against the real local stack, e2e). The stack is started by the
# test setup if it is not running, and left running afterwards.
# Extra arguments go to pytest, e.g. scripts/test.sh -m unit
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/install.sh
echo "test: ruff"
.venv/bin/ruff check .
echo "test: mypy"
.venv/bin/mypy .
echo "test: import contracts"
.venv/bin/lint-imports
echo "test: web app (tsc, vitest)"
(cd web && npm test --silent)
echo "test: pytest"
exec .venv/bin/python -m pytest "$@"
