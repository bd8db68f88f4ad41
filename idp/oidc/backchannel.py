"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0 §2.4-2.7).

Ending a session writes one outbox row per client that took part in it and has a
`backchannel_logout_uri`. A dispatcher thread in each worker claims due rows (so no two workers
send the same one), POSTs a freshly signed `logout_token`, and records every attempt with its
outcome. A slow or dead client costs the dispatcher at most `backchannel_timeout` per attempt
and never delays the user's logout; failed attempts are retried with exponential back-off until
`backchannel_max_attempts`. Scheduling uses real time: it runs in the background.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time

import requests
from flask import Flask, current_app
from joserfc import jwt
from sqlalchemy import and_, or_, select, update

from ..store import audit, clients, db, users
from ..store.legacy_subjects import subject_for
from ..store.models import Client, LogoutDelivery

log = logging.getLogger(__name__)

EVENT = "http://schemas.openid.net/event/backchannel-logout"
CLAIM_SECONDS = 60
POLL_SECONDS = 5.0


def logout_token(client: Client, sid: str, subject: str) -> str:
    """A signed logout token: iss aud iat exp jti sid sub events, never a nonce (§2.4)."""
    config = current_app.config["IDP"]
    alg = client.id_token_signed_response_alg or config.tokens.id_token_alg
    key = current_app.extensions["idp_keys"].signing_key(alg)
    issued = int(time.time())
    claims = {
        "iss": config.issuer,
        "aud": client.client_id,
        "iat": issued,
        "exp": issued + config.logout.logout_token_ttl,
        "jti": secrets.token_urlsafe(16),
        "sid": sid,
        "sub": subject,
        "events": {EVENT: {}},
    }
    header = {"alg": alg, "kid": key.kid, "typ": "logout+jwt"}
    return jwt.encode(header, claims, key.key, [alg])


def queue(sid: str, subject: str, client_ids: list[str]) -> int:
    """Owe a logout token to every client of the session that asked for one; returns how many."""
    now = time.time()
    owed = 0
    for client_id in client_ids:
        client = clients.get(client_id)
        if client is None or not client.backchannel_logout_uri:
            continue
        if client.legacy_subject_source and (user := users.by_subject(subject)) is not None:
            client_subject = subject_for(user, client)
        else:
            client_subject = subject
        db.session.add(
            LogoutDelivery(
                client_id=client_id,
                uri=client.backchannel_logout_uri,
                sid=sid,
                subject=client_subject,
                status="pending",
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
        )
        owed += 1
    if owed:
        db.session.commit()
        dispatcher().kick()
    return owed


def _claim(delivery_id: int, now: float) -> bool:
    result = db.session.execute(
        update(LogoutDelivery)
        .where(
            LogoutDelivery.id == delivery_id,
            LogoutDelivery.status == "pending",
            or_(LogoutDelivery.claimed_until.is_(None), LogoutDelivery.claimed_until < now),
        )
        .values(claimed_until=now + CLAIM_SECONDS)
    )
    db.session.commit()
    return result.rowcount == 1


def deliver_one(delivery: LogoutDelivery) -> bool:
    """One attempt; records its outcome. True when the client acknowledged the logout."""
    cfg = current_app.config["IDP"].logout
    client = clients.find(delivery.client_id)
    status, error = None, None
    try:
        if client is None or client.disabled:
            raise RuntimeError("client no longer registered")
        token = logout_token(client, delivery.sid, delivery.subject)
        response = requests.post(
            delivery.uri,
            data={"logout_token": token},
            timeout=cfg.backchannel_timeout,
            allow_redirects=False,
            headers={"Cache-Control": "no-store"},
        )
        status = response.status_code
        if status not in (200, 204):
            error = f"HTTP {status}"
    except (requests.RequestException, RuntimeError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    now = time.time()
    delivery.attempts += 1
    delivery.last_status = status
    delivery.last_error = error
    delivery.claimed_until = None
    if error is None:
        delivery.status, delivery.finished_at = "delivered", now
    elif delivery.attempts >= cfg.backchannel_max_attempts or client is None:
        delivery.status, delivery.finished_at = "failed", now
    else:
        delivery.next_attempt_at = now + cfg.backchannel_retry_delay * 2 ** (delivery.attempts - 1)
    audit.record(
        "backchannel_logout",
        client_id=delivery.client_id,
        sid=delivery.sid,
        attempt=delivery.attempts,
        outcome=delivery.status if delivery.status != "pending" else "retry",
        http_status=status,
        error=error,
        commit=False,
    )
    db.session.commit()  # the attempt and its audit record together
    if error:
        log.warning(
            "back-channel logout to %s (%s) attempt %d: %s",
            delivery.client_id,
            delivery.uri,
            delivery.attempts,
            error,
        )
    return error is None


def deliver_due(limit: int = 50) -> float | None:
    """Attempt every due delivery once; returns when the next one falls due (epoch seconds)."""
    now = time.time()
    due = db.session.scalars(
        select(LogoutDelivery.id)
        .where(
            LogoutDelivery.status == "pending",
            LogoutDelivery.next_attempt_at <= now,
            or_(LogoutDelivery.claimed_until.is_(None), LogoutDelivery.claimed_until < now),
        )
        .order_by(LogoutDelivery.next_attempt_at)
        .limit(limit)
    ).all()
    for delivery_id in due:
        if _claim(delivery_id, now):
            deliver_one(db.session.get(LogoutDelivery, delivery_id))
    return db.session.scalar(
        select(LogoutDelivery.next_attempt_at)
        .where(and_(LogoutDelivery.status == "pending"))
        .order_by(LogoutDelivery.next_attempt_at)
        .limit(1)
    )


def deliver_now(deadline_seconds: float) -> None:
    """Deliver in the foreground until nothing is pending or the deadline passes (the CLI)."""
    end = time.monotonic() + deadline_seconds
    while time.monotonic() < end:
        next_due = deliver_due()
        db.session.remove()
        if next_due is None:
            return
        time.sleep(max(0.0, min(next_due - time.time(), end - time.monotonic())))


class Dispatcher:
    """The background sender of one worker process (restarted after a fork)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.wakeup = threading.Event()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.pid = 0
        self.lock = threading.Lock()

    def start(self) -> None:
        with self.lock:
            if self.thread is not None and self.thread.is_alive() and self.pid == os.getpid():
                return
            self.pid = os.getpid()
            self.stopping.clear()
            self.thread = threading.Thread(target=self._run, name="idp-backchannel", daemon=True)
            self.thread.start()

    def queue(self, sid: str, subject: str, client_ids: list[str]) -> int:
        """Owe logout tokens for an ended session (see `queue`); the sign-in pages reach the
        outbox through this, without importing the protocol side."""
        return queue(sid, subject, client_ids)

    def kick(self) -> None:
        self.start()
        self.wakeup.set()

    def stop(self) -> None:
        self.stopping.set()
        self.wakeup.set()
        if self.thread is not None:
            self.thread.join(timeout=10)

    def _run(self) -> None:
        while not self.stopping.is_set():
            wait = POLL_SECONDS
            try:
                with self.app.app_context():
                    next_due = deliver_due()
                    db.session.remove()
                if next_due is not None:
                    wait = min(POLL_SECONDS, max(0.0, next_due - time.time()))
            except Exception:  # noqa: BLE001 - the sender must outlive any one failure
                log.exception("back-channel dispatcher pass failed")
            self.wakeup.wait(timeout=wait)
            self.wakeup.clear()


def dispatcher() -> Dispatcher:
    return current_app.extensions["idp_backchannel"]


def init_app(app: Flask) -> None:
    app.extensions["idp_backchannel"] = Dispatcher(app)
