#!/usr/bin/env bash
# Starts the whole exchange locally: installs what is missing, then brings up
# PostgreSQL, Redis and Kafka on 127.0.0.1 with the schema applied and the topics
# created. Safe to run again: what is already running is left alone.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/install.sh
exec .venv/bin/exchange up
