"""The test run's own PostgreSQL and Redis: throwaway servers in a temporary folder, on free
loopback ports, started once per run and removed at its end — never the machine's shared ones.

The process that first imports this (pytest's controller, or the only process without xdist)
starts them and publishes their addresses in IDP_TEST_PG_ADMIN and IDP_TEST_REDIS; xdist's
workers inherit those variables and use the same servers. Setting the variables yourself points
the suite at servers of your choosing instead. When a server's programs are not installed, the
tests that need it are skipped with one line saying what to install — unless
IDP_REQUIRE_SERVICES=1 (CI), which makes that an error.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_ENV = "IDP_TEST_PG_ADMIN"
REDIS_ENV = "IDP_TEST_REDIS"
MISSING_ENV = "IDP_TEST_SERVICES_MISSING"
PG_HINT = "PostgreSQL server programs (initdb, pg_ctl): apt-get install postgresql"
REDIS_HINT = "redis-server: apt-get install redis-server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bindir() -> Path | None:
    """Where initdb and pg_ctl are: on PATH, from pg_config, or Debian's versioned folder."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if bindir and (Path(bindir) / "initdb").exists():
            return Path(bindir)
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(versions[0]).parent if versions else None


def _as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the `postgres` account."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


class ThrowawayPostgres:
    def __init__(self, root: Path) -> None:
        self.bindir = _pg_bindir()
        self.root = root / "pg"
        self.data = self.root / "data"
        self.port = _free_port()

    def start(self) -> str:
        self.root.mkdir(mode=0o700)
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
        run = dict(check=True, capture_output=True, text=True, timeout=120)
        subprocess.run(
            _as_server_user(
                [str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                 "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"]
            ),
            **run,
        )  # fmt: skip
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c synchronous_commit=off -c max_connections=300"
        )
        subprocess.run(
            _as_server_user(
                [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options,
                 "-l", str(self.root / "server.log"), "-w", "-t", "60", "start"]
            ),
            **run,
        )  # fmt: skip
        import psycopg

        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE test")
        return f"postgresql://postgres@127.0.0.1:{self.port}/test"

    def stop(self) -> None:
        subprocess.run(
            _as_server_user(
                [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]
            ),
            capture_output=True,
            timeout=60,
            check=False,
        )


class ThrowawayRedis:
    def __init__(self, root: Path) -> None:
        self.binary = shutil.which("redis-server")
        self.root = root / "redis"
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> str:
        self.root.mkdir()
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root), "--logfile", "",
             "--maxclients", "2000"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return f"redis://127.0.0.1:{self.port}/0"
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the test run's redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(10)


def ensure() -> None:
    """Start what this run needs and has not been given, once, in the first process."""
    if os.environ.get(PG_ENV) and os.environ.get(REDIS_ENV):
        return
    root = Path(tempfile.mkdtemp(prefix="idp-test-services-"))
    os.chmod(root, 0o755)  # noqa: S103 - the postgres account must reach its folder inside
    started = []
    missing = []
    if not os.environ.get(PG_ENV):
        server = ThrowawayPostgres(root)
        if server.bindir is None or (os.geteuid() == 0 and not _has_postgres_account()):
            missing.append(PG_HINT)
        else:
            os.environ[PG_ENV] = server.start()
            started.append(server)
    if not os.environ.get(REDIS_ENV):
        server = ThrowawayRedis(root)
        if server.binary is None:
            missing.append(REDIS_HINT)
        else:
            os.environ[REDIS_ENV] = server.start()
            started.append(server)
    if missing:
        os.environ[MISSING_ENV] = "; ".join(missing)

    def stop_all() -> None:
        for server in started:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(stop_all)


def _has_postgres_account() -> bool:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return True


def missing_reason() -> str | None:
    """Why the PostgreSQL + Redis tests cannot run here, or None."""
    missing = os.environ.get(MISSING_ENV)
    return f"not installed: {missing}" if missing else None
