#!/usr/bin/env bash
# Creates .venv and installs CardValue with the exact versions in constraints.txt.
# Needs only python3 (3.11+) and the package registries. Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check "uv>=0.5"
# --compile-bytecode: this machine sets PYTHONDONTWRITEBYTECODE=1, and without bytecode every
# Dagster step pays 8-9 s of imports instead of 3 s.
.venv/bin/uv pip install --quiet --compile-bytecode --python .venv/bin/python \
    --constraint constraints.txt --editable ".[dev]"
