#!/usr/bin/env bash
# Lint, type-check and run the whole test suite (sets everything up first).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy chatbot_cli
.venv/bin/python -m pytest -q "$@"
