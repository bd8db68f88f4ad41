"""Brute-force protection: failed sign-ins counted per account and per client IP in the
short-lived store; past the limit the account (or IP) is locked for a configured time."""

from __future__ import annotations

from flask import current_app

from ..clock import now
from ..store import audit, kv
from ..store.users import normalize_username


def _keys(ip: str | None, username: str) -> tuple[str, str]:
    return f"ip:{ip or '-'}", f"user:{normalize_username(username)[:64]}"


def locked_until(ip: str | None, username: str) -> int | None:
    """When the account or the IP may try again, or None when neither is locked."""
    times = [
        record["until"]
        for key in _keys(ip, username)
        if (record := kv().get(f"locked:{key}")) and record["until"] > now()
    ]
    return max(times) if times else None


def record_failure(ip: str | None, username: str) -> int | None:
    """Count one failure; returns the lock's end when this failure locked something."""
    cfg = current_app.config["IDP"].login
    ip_key, user_key = _keys(ip, username)
    locked = None
    for key, limit in ((ip_key, cfg.max_attempts_per_ip), (user_key, cfg.max_attempts_per_user)):
        if kv().incr(f"fail:{key}", cfg.attempt_window) >= limit:
            until = now() + cfg.lockout_seconds
            kv().put(f"locked:{key}", {"until": until}, cfg.lockout_seconds)
            kv().delete(f"fail:{key}")
            audit.record(
                "login_locked", username=username[:64], locked=key.split(":")[0], until=until
            )
            locked = max(locked or 0, until)
    return locked


def tries_left(ip: str | None, username: str) -> int:
    """Failed sign-ins still allowed before the account (or this IP) is locked; the same for a
    name that has no account, so the number says nothing about who exists."""
    cfg = current_app.config["IDP"].login
    ip_key, user_key = _keys(ip, username)
    return max(
        0,
        min(
            cfg.max_attempts_per_ip - kv().count(f"fail:{ip_key}"),
            cfg.max_attempts_per_user - kv().count(f"fail:{user_key}"),
        ),
    )


def clear(username: str) -> None:
    """After a successful sign-in or a password reset the account starts afresh."""
    _, user_key = _keys(None, username)
    kv().delete(f"fail:{user_key}")
    kv().delete(f"locked:{user_key}")
