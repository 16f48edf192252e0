#!/usr/bin/env bash
# Create .venv with Python >= 3.12 and install flowc (editable) with the runtime (the `run`
# extra: Deno, the sandbox, model providers) and the given extras.
# Usage: scripts/bootstrap.sh [EXTRAS]   e.g. scripts/bootstrap.sh test,bench
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"

find_python() {
  for cand in "${PYTHON:-}" python3.12 python3.13 python3 python; do
    [ -n "$cand" ] || continue
    command -v "$cand" >/dev/null 2>&1 || continue
    if "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
      echo "$cand"; return 0
    fi
  done
  return 1
}

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)'; then
  py=$(find_python) || { echo "flowc needs Python 3.12 or newer (set PYTHON=/path/to/python3.12)" >&2; exit 2; }
  rm -rf .venv
  "$py" -m venv .venv
fi
spec=".[run]"
[ -n "$extras" ] && spec=".[run,${extras}]"
# Installed once per pyproject.toml and set of extras (the stamp below): a second run leaves
# the installed packages alone, so flowc processes already running (a parallel test suite)
# never see it half uninstalled.
stamp=.venv/.flowc-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1) $spec $(pwd)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ] || ! .venv/bin/python -c "import flowc.cli" 2>/dev/null; then
  rm -f "$stamp"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec" 2>&1 \
    | grep -v -E "^WARNING: Location .* is ignored" || true
  .venv/bin/python -c "import flowc.cli" || { echo "flowc failed to install" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
# Byte-compile the sources once: some environments set PYTHONDONTWRITEBYTECODE, and a
# `flowc check` that recompiles its own modules on every start is twice as slow.
.venv/bin/python -m compileall -q flowc compiler grammar runtime lsp stdlib_skills >/dev/null || true
# The sandbox's assets: Pyodide from the npm registry (integrity-checked) and its memory
# snapshot, fetched and built once into the cache; `flowc sandbox doctor` also self-tests.
.venv/bin/flowc sandbox doctor >/dev/null || { echo "the sandbox self-test failed: run .venv/bin/flowc sandbox doctor" >&2; exit 1; }
