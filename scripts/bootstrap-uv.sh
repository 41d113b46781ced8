#!/usr/bin/env bash
# Prints the path of a uv binary, installing uv from PyPI into .tools/ when the machine has none.
# A fresh Debian machine has python3 and nothing else: uv comes from PyPI, the project's Python packages
# from uv.lock.
set -euo pipefail
UV_VERSION=0.13.8
if [ -x .tools/bin/uv ]; then echo .tools/bin/uv; exit 0; fi
if command -v uv >/dev/null 2>&1; then command -v uv; exit 0; fi
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -m venv .tools >/dev/null 2>&1; then
  echo "error: '$PYTHON -m venv' failed; on Debian install it with: apt-get install python3-venv" >&2
  exit 1
fi
.tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==${UV_VERSION}" >&2
echo .tools/bin/uv
