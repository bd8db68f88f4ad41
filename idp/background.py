"""Work done after the answer: mail and text messages a page must not wait for.

A request that mails only when an account exists (forgot password, resend activation) would
answer slower for a real account; handing the whole job (look-up included) to this queue makes
both answers take the same time. Each job runs in its own app context with a request context
on the issuer's address (links in mail name the hub's public URL, never a Host header), in the
page's language and with the asking IP for the audit trail. A failed job is logged, not raised.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

from flask import Flask, current_app, has_request_context, request
from flask_babel import force_locale, get_locale

log = logging.getLogger(__name__)
_queues: weakref.WeakSet = weakref.WeakSet()


class Queue:
    """One worker thread per process, started on first use."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._executor: ThreadPoolExecutor | None = None
        self._pending: set[Future] = set()
        self._lock = threading.Lock()
        _queues.add(self)

    def submit(self, job: Callable, *args, **kwargs) -> None:
        lang = str(get_locale() or "vi") if has_request_context() else "vi"
        ip = request.remote_addr if has_request_context() else None
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="idp-background")
            future = self._executor.submit(self._run, lang, ip, job, args, kwargs)
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)

    def _run(self, lang: str, ip: str | None, job: Callable, args, kwargs) -> None:  # noqa: ANN001
        from .store import db

        issuer = self.app.config["IDP"].issuer
        environ = {"REMOTE_ADDR": ip or ""}
        with self.app.test_request_context("/", base_url=issuer, environ_base=environ):
            try:
                with force_locale(lang):
                    job(*args, **kwargs)
            except Exception:
                log.exception("background job %s failed", getattr(job, "__name__", job))
                db.session.rollback()
            finally:
                db.session.remove()

    def drain(self, timeout: float = 10.0) -> None:
        """Wait for every job submitted so far (tests, and a worker shutting down)."""
        with self._lock:
            pending = list(self._pending)
        wait(pending, timeout=timeout)


def submit(job: Callable, *args, **kwargs) -> None:
    """Run `job(*args, **kwargs)` after this request, in this app."""
    current_app.extensions["idp_background"].submit(job, *args, **kwargs)


def drain_all(timeout: float = 10.0) -> None:
    """Wait for the jobs of every queue of this process (tests)."""
    for queue in list(_queues):
        queue.drain(timeout)
