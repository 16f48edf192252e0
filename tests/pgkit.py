"""A real PostgreSQL server for the tests: Debian's `postgresql` binaries (.ci/run installs
them), a cluster made with initdb in a temporary folder, listening on a Unix socket only
(no TCP port to collide with), started once per test session and stopped at its end. Each
test that asks gets a database of its own (`fresh_database()`)."""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def pg_bin() -> Path:
    """The folder of initdb and pg_ctl (the newest Debian install, or on PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise RuntimeError("PostgreSQL is not installed (initdb not found): .ci/run installs "
                       "Debian's postgresql; on another machine install it first")


class Cluster:
    def __init__(self):
        self.bin = pg_bin()
        self.root = Path(tempfile.mkdtemp(prefix="flowc-pg-"))
        self.data = self.root / "data"
        self.sock = self.root
        self.port = 5432 + 10_000 + os.getpid() % 20_000
        self.user = "flowc"
        # initdb and postgres refuse to run as root: as the `postgres` user the package made
        self.run_as = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
                self.run_as = "postgres"
            except KeyError as e:
                raise RuntimeError("running as root without a `postgres` user") from e
            shutil.chown(self.root, "postgres")
            os.chmod(self.root, 0o700)

    def _cmd(self, *args: str) -> list[str]:
        return (["runuser", "-u", self.run_as, "--"] if self.run_as else []) + list(args)

    def start(self) -> Cluster:
        subprocess.run(self._cmd(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust",
                                 "-U", self.user, "--no-sync", "-E", "UTF8"),
                       check=True, capture_output=True, timeout=300)
        options = (f"-k {self.sock} -p {self.port} -c listen_addresses='' -c fsync=off "
                   "-c max_connections=200 -c shared_buffers=32MB")
        subprocess.run(self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                                 "-l", str(self.root / "log"), "-w", "-t", "300", "start"),
                       check=True, capture_output=True, timeout=360)
        return self

    def url(self, dbname: str) -> str:
        return f"postgresql://{self.user}@/{dbname}?host={self.sock}&port={self.port}"

    def fresh_database(self) -> str:
        import psycopg

        name = "t_" + secrets.token_hex(6)
        with psycopg.connect(self.url("postgres"), autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop(self, url: str) -> None:
        import psycopg

        name = url.split("/", 3)[3].split("?", 1)[0]
        with psycopg.connect(self.url("postgres"), autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        subprocess.run(self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                                 "-w", "stop"), capture_output=True, timeout=120)
        for _ in range(50):
            try:
                shutil.rmtree(self.root)
                return
            except OSError:
                time.sleep(0.1)
