"""SMS one-time codes: send with a resend cooldown and an hourly cap, verify with an expiry and
a limit on wrong tries. Only a keyed hash of each code is stored, and compared in constant time.

A code belongs to a purpose and a subject (e.g. "login" and a user id, "phone" and a pending
number); sending a new one replaces the old. Time comes from the app clock, so tests move it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import Enum

import pyotp
from flask import current_app, has_request_context, request
from flask_babel import lazy_gettext as _l

from .. import sms
from ..clock import now
from ..store import audit, kv


class Result(Enum):
    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"
    LOCKED = "locked"


RESULT_MESSAGES = {
    Result.WRONG: _l("The code is not right. Check the SMS and try again."),
    Result.EXPIRED: _l("The code has expired or was not sent. Ask for a new one."),
    Result.LOCKED: _l("Too many wrong codes: this code no longer works. Ask for a new one."),
}


class SendRefused(Exception):
    """Too soon after the last code, or too many this hour; `wait` seconds until allowed."""

    def __init__(self, message, wait: int) -> None:  # noqa: ANN001
        super().__init__(f"refused, retry in {wait} s")
        self.message = message
        self.wait = wait


@dataclass
class Sent:
    expires_at: int
    resend_at: int


def mask(phone: str) -> str:
    """09******89: enough for a person to recognise their number, no more."""
    return phone[:2] + "*" * max(0, len(phone) - 4) + phone[-2:] if len(phone) > 4 else "****"


def _key(purpose: str, subject: str) -> str:
    return f"otp:{purpose}:{subject}"


def _digest(code: str, salt: str) -> str:
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, f"{salt}:{code}".encode(), hashlib.sha256).hexdigest()


def new_code() -> str:
    """Six random digits, made by pyotp from a fresh random secret."""
    return pyotp.HOTP(pyotp.random_base32(), digits=6).at(secrets.randbelow(2**31))


def send(purpose: str, subject: str, phone: str, text_template, user=None) -> Sent:  # noqa: ANN001
    """Send a new code by SMS; raises SendRefused or sms.SmsError (nothing stored then)."""
    cfg = current_app.config["IDP"].otp
    at = now()
    cooldown = kv().get(f"otp-cooldown:{phone}")
    if cooldown and cooldown["until"] > at:
        raise SendRefused(_l("Please wait before asking for another code."), cooldown["until"] - at)
    ip = request.remote_addr if has_request_context() else None
    if kv().count(f"otp-hour:{phone}") >= cfg.max_per_hour or (
        ip and kv().count(f"otp-ip-hour:{ip}") >= cfg.max_per_ip_hour
    ):
        audit.record("otp_limited", user=user, purpose=purpose)
        raise SendRefused(_l("Too many codes were sent. Try again in an hour."), 3600)
    code = new_code()
    salt = secrets.token_hex(8)
    text = str(text_template).replace("{code}", code).replace("{minutes}", str(cfg.code_ttl // 60))
    sms.send(phone, text)  # raises SmsError: then nothing below happens
    kv().put(
        _key(purpose, subject),
        {
            "hash": _digest(code, salt),
            "salt": salt,
            "phone": phone,
            "expires_at": at + cfg.code_ttl,
        },
        cfg.code_ttl + 60,
    )
    kv().delete(f"otp-tries:{purpose}:{subject}")
    kv().put(f"otp-cooldown:{phone}", {"until": at + cfg.resend_cooldown}, cfg.resend_cooldown)
    kv().incr(f"otp-hour:{phone}", 3600)
    if ip:
        kv().incr(f"otp-ip-hour:{ip}", 3600)
    audit.record("otp_sent", user=user, purpose=purpose, phone=mask(phone))
    return Sent(expires_at=at + cfg.code_ttl, resend_at=at + cfg.resend_cooldown)


def send_or_explain(
    purpose: str,
    subject: str,
    phone: str,
    text_template,
    user,
    not_sent,  # noqa: ANN001
) -> object | None:
    """Send a code for a page: None when it went out, else the message to show (the wait,
    or `not_sent` when the gateway failed)."""
    try:
        send(purpose, subject, phone, text_template, user=user)
    except SendRefused as refused:
        return refused.message
    except sms.SmsError:
        audit.record("otp_send_failed", user=user, purpose=purpose)
        return not_sent
    return None


def pending(purpose: str, subject: str) -> dict | None:
    """The code waiting for this subject (its phone and expiry), if any."""
    return kv().get(_key(purpose, subject))


def resend_wait(phone: str) -> int:
    """Seconds until another code may be sent to this number (0: now)."""
    cooldown = kv().get(f"otp-cooldown:{phone}")
    return max(0, cooldown["until"] - now()) if cooldown else 0


def tries_left(purpose: str, subject: str) -> int:
    """Wrong entries still allowed before the code waiting for this subject stops working."""
    used = kv().count(f"otp-tries:{purpose}:{subject}")
    return max(0, current_app.config["IDP"].otp.max_tries - used)


def verify(purpose: str, subject: str, code: str, user=None) -> Result:  # noqa: ANN001
    cfg = current_app.config["IDP"].otp
    record = kv().get(_key(purpose, subject))
    if record is None:
        return Result.EXPIRED
    if record["expires_at"] <= now():
        kv().delete(_key(purpose, subject))
        audit.record("otp_expired", user=user, purpose=purpose)
        return Result.EXPIRED
    code = (code or "").strip().replace(" ", "")
    if (
        len(code) == 6
        and code.isdigit()
        and hmac.compare_digest(record["hash"], _digest(code, record["salt"]))
    ):
        if kv().take(_key(purpose, subject)) is None:  # used by a concurrent request
            return Result.EXPIRED
        audit.record("otp_verified", user=user, purpose=purpose)
        return Result.OK
    tries = kv().incr(f"otp-tries:{purpose}:{subject}", cfg.code_ttl + 60)
    if tries >= cfg.max_tries:
        kv().delete(_key(purpose, subject))
        audit.record("otp_locked", user=user, purpose=purpose, tries=tries)
        return Result.LOCKED
    audit.record("otp_failed", user=user, purpose=purpose, tries=tries)
    return Result.WRONG
