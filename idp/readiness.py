"""What /readyz checks, each in its own thread, so the answer comes within
`server.readiness_timeout` however a dependency fails: a balancer's probe must never hang with
the dependency (three hanging probes would take every sync worker), and a check that does not
answer in time is named as such.

A check that is still waiting keeps its thread until the dependency's own bound ends it (the
database's answer and connect time-outs, Redis's socket time-outs); the threads are few and
shared by the worker, so a long stall cannot pile them up: later checks queue and time out.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for

from flask import Flask, current_app
from sqlalchemy import text

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=6, thread_name_prefix="idp-readyz")
        return _pool


def _forget_pool_after_fork() -> None:
    """A gunicorn worker forked from a master that checked readiness gets its own threads."""
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _database() -> str | None:
    from .store.db import db

    try:
        db.session.execute(text("SELECT 1"))
        return None
    finally:
        db.session.remove()


def _store() -> str | None:
    return None if current_app.extensions["idp_kv"].ping() else "no answer"


def _signing_key() -> str | None:
    config = current_app.config["IDP"]
    current_app.extensions["idp_keys"].signing_key(config.tokens.id_token_alg)
    return None


CHECKS: dict[str, Callable[[], str | None]] = {
    "database": _database,
    "store": _store,
    "signing_key": _signing_key,
}


def _run(app: Flask, check: Callable[[], object]) -> object:
    with app.app_context():
        try:
            return check()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            return type(exc).__name__


def _connectors() -> dict[str, str]:
    from .broker import health

    return health.summary(current_app.config["IDP"])


def report(app: Flask) -> tuple[dict[str, str], dict[str, str]]:
    """What is not ready, by check (empty when all is), and each connector's state. A failing
    connector does not make the hub unready: local sign-in and every client still work."""
    timeout = app.config["IDP"].server.readiness_timeout
    futures = {name: _executor().submit(_run, app, check) for name, check in CHECKS.items()}
    connectors = (
        _executor().submit(_run, app, _connectors) if app.config["IDP"].connectors else None
    )
    wait_for([*futures.values(), *([connectors] if connectors else [])], timeout=timeout)
    found = {}
    for name, future in futures.items():
        if not future.done():
            found[name] = f"no answer within {timeout:g} s"
        elif future.result():
            found[name] = future.result()
    states: dict[str, str] = {}
    if connectors is not None:
        result = connectors.result() if connectors.done() else None
        states = result if isinstance(result, dict) else {"?": str(result or "no answer")}
    return found, states
