"""Faults the outage tests and bench/chaos.py inflict on their own dependencies: a redis-server
of their own to stop and start, and a TCP relay to PostgreSQL to cut or stall (the machine's
shared servers keep running)."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from urllib.parse import urlsplit

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnRedis:
    """A redis-server of this test only, on a fixed spare port, stopped and restarted."""

    def __init__(self, tmp_path) -> None:
        self.port = free_port()
        self.dir = tmp_path
        self.process = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class Relay:
    """A TCP relay to PostgreSQL that can be cut (every connection dropped) and restored, or
    stalled (connections stay open, nothing is passed on: a server or network that hangs) and
    resumed (what was held back then flows on, in order)."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = free_port()
        self.sockets: list[socket.socket] = []
        self.listener = None
        self.lock = threading.Lock()
        self.flowing = threading.Event()
        self.flowing.set()
        self.start()

    @classmethod
    def to_database(cls, database_url: str) -> tuple[Relay, str]:
        """A relay in front of the PostgreSQL that `database_url` names (the test run's own
        server), and the same URL reaching it through the relay."""
        server = urlsplit(database_url).netloc.split("@")[-1]
        relay = cls(int(server.rsplit(":", 1)[1]))
        return relay, database_url.replace(server, f"127.0.0.1:{relay.port}")

    def stall(self) -> None:
        self.flowing.clear()

    def resume(self) -> None:
        self.flowing.set()

    def start(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(32)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self.flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            for s in self.sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self.sockets.clear()


class DriverSpy:
    """Sees every statement an engine's connections send, in the database driver itself, and
    may act on it first (`before(cursor, sql)`: fail, stall, take note).

    At the driver, below SQLAlchemy, so it sees the statements the hub runs without a
    SQLAlchemy `Connection` (`idp.store.driver`) as well as the others. The engine's pool is
    emptied on entry and exit: the connections it opens meanwhile have the spy's cursors.
    """

    def __init__(self, engine, before) -> None:  # noqa: ANN001
        self.engine = engine
        self.before = before

    def __enter__(self) -> DriverSpy:
        import sqlite3

        import psycopg
        from sqlalchemy import event

        spy = self

        class SqliteCursor(sqlite3.Cursor):
            def execute(self, sql, parameters=()):  # noqa: ANN001, ANN201
                spy.before(self, sql)
                return super().execute(sql, parameters)

            def executemany(self, sql, parameters):  # noqa: ANN001, ANN201
                spy.before(self, sql)
                return super().executemany(sql, parameters)

        class SqliteConnection(sqlite3.Connection):
            def cursor(self, factory=SqliteCursor):  # noqa: ANN001, ANN201
                return super().cursor(factory)

        class PostgresCursor(psycopg.Cursor):
            def execute(self, query, params=None, **kwargs):  # noqa: ANN001, ANN003, ANN201
                spy.before(self, str(query))
                return super().execute(query, params, **kwargs)

            def executemany(self, query, params_seq, **kwargs):  # noqa: ANN001, ANN003, ANN201
                spy.before(self, str(query))
                return super().executemany(query, params_seq, **kwargs)

        def sqlite_spy_connection(dialect, record, cargs, cparams):  # noqa: ANN001, ANN202
            if dialect.name == "sqlite":
                cparams["factory"] = SqliteConnection
            # None: the engine's own way to connect follows, with these parameters.

        def postgres_spy_cursors(dbapi_connection, record) -> None:  # noqa: ANN001
            if isinstance(dbapi_connection, psycopg.Connection):
                dbapi_connection.cursor_factory = PostgresCursor

        self._listeners = [
            ("do_connect", sqlite_spy_connection),
            ("connect", postgres_spy_cursors),
        ]
        for name, listener in self._listeners:
            event.listen(self.engine, name, listener)
        self.engine.dispose()
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        from sqlalchemy import event

        for name, listener in self._listeners:
            event.remove(self.engine, name, listener)
        self.engine.dispose()


def driver_error(cursor, message: str = "injected") -> Exception:  # noqa: ANN001
    """The error the cursor's own driver raises when the database is unreachable."""
    import psycopg

    if isinstance(cursor, psycopg.Cursor):
        return psycopg.OperationalError(message)
    import sqlite3

    return sqlite3.OperationalError(message)
