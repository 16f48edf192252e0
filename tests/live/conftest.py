"""Fixtures of the `live` tests: one real OpenAI-compatible endpoint for the session and a
flowc.toml that points the examples' model aliases (`default`, `small`) at it.

With `FLOWC_LIVE_BASE_URL` (and `FLOWC_LIVE_MODEL`, optional `FLOWC_LIVE_API_KEY`) the tests
use that endpoint: Ollama, vLLM, a hosted API. Without it the session starts the cached
llama-server through `scripts/live_model.py serve --port 0` and stops it at the end; an unbuilt
cache fails the tests with the build command. The marker is deselected by default
(pyproject `addopts`): `pytest -m live tests/live -s` runs them and shows their figures.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from live_harness import shared_sandbox  # noqa: F401  (an autouse fixture)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "live_model.py"


def _script():
    spec = importlib.util.spec_from_file_location("flowc_live_model_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def live_endpoint(tmp_path_factory):
    """(base_url, model, api_key_env): the given endpoint, or a llama-server started here."""
    given = os.environ.get("FLOWC_LIVE_BASE_URL", "").strip()
    if given:
        model = os.environ.get("FLOWC_LIVE_MODEL", "").strip()
        if not model:
            pytest.fail("FLOWC_LIVE_BASE_URL is set without FLOWC_LIVE_MODEL (the model name)")
        yield given, model, "FLOWC_LIVE_API_KEY" if os.environ.get("FLOWC_LIVE_API_KEY") else ""
        return
    log = tmp_path_factory.mktemp("live") / "serve.log"
    started = time.monotonic()
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, str(SCRIPT), "serve", "--port", "0"],
                                stdout=subprocess.PIPE, stderr=err, text=True)
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(180)
    try:
        if not line or not line[0].strip():
            proc.kill()
            pytest.fail(f"the live server did not start: {log.read_text().strip()[-400:]}")
        base_url = line[0].strip()
        print(f"\nlive server {base_url} ready in {time.monotonic() - started:.1f} s "
              f"({log.read_text().strip().splitlines()[-1]})")
        yield base_url, _script().MODEL_ALIAS, ""
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="session", autouse=True)
def live_config(live_endpoint, tmp_path_factory):
    """The session's flowc.toml ($FLOWC_CONFIG). `FLOWC_LIVE_MODEL_SETTINGS` adds lines to
    every model table (settings a runtime may offer for small models)."""
    base_url, model, key_env = live_endpoint
    path = tmp_path_factory.mktemp("live-config") / "flowc.toml"
    path.write_text(_script().flowc_toml(base_url, model, key_env,
                                         extra=os.environ.get("FLOWC_LIVE_MODEL_SETTINGS", "")))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLOWC_CONFIG", str(path))
        yield path
