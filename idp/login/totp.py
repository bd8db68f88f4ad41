"""Authenticator apps (TOTP, RFC 6238) and one-time recovery codes.

Enrolment: a new secret waits in the short-lived store until the person proves they scanned it
by entering a first code; only then is it saved (encrypted) and ten recovery codes are made and
shown once. A code is accepted within one time step either way, and never twice: the step of
the last accepted code is kept and moved forward atomically.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import pyotp
from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from sqlalchemy import delete, select, update

from ..clock import now
from ..store import audit, db, kv
from ..store.models import RecoveryCode, TotpEnrolment, User

ENROL_TTL = 15 * 60
RECOVERY_CODES = 10
STEP = 30


def _fernet() -> Fernet:
    """Encryption for secrets at rest, keyed by the hub's secret (shared by every worker)."""
    digest = hashlib.sha256(b"totp:" + current_app.config["SECRET_KEY"].encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _hash_recovery(code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    normalized = code.strip().replace("-", "").replace(" ", "").lower()
    return hmac.new(key, b"recovery:" + normalized.encode(), hashlib.sha256).hexdigest()


def enrolment(user: User) -> TotpEnrolment | None:
    return db.session.get(TotpEnrolment, user.id)


def start(user: User) -> tuple[str, str]:
    """A new secret for the person to scan; returns it and its otpauth:// URI (for the QR)."""
    secret = pyotp.random_base32()
    # Encrypted while it waits too: the short-lived store may be a table on disk.
    sealed = _fernet().encrypt(secret.encode()).decode()
    kv().put(f"totp-enrol:{user.id}", {"sealed": sealed}, ENROL_TTL)
    issuer = current_app.config["IDP"].ui.province_name
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=issuer)
    return secret, uri


def _unseal(pending: dict | None) -> str | None:
    if not pending or not isinstance(pending.get("sealed"), str):
        return None
    try:
        return _fernet().decrypt(pending["sealed"].encode()).decode()
    except InvalidToken:
        return None


def _matching_step(secret: str, code: str) -> int | None:
    """The time step (±1 around now) whose code this is, or None."""
    code = (code or "").strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = now() // STEP
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.at(step * STEP), code):
            return step
    return None


def confirm(user: User, code: str, vouched: bool = False) -> list[str] | None:
    """Finish enrolment with a first code; returns the recovery codes to show once. `vouched`:
    the enrolling session had passed another factor (idp.login.step_up)."""
    pending = kv().get(f"totp-enrol:{user.id}")
    secret = _unseal(pending)
    step = _matching_step(secret, code) if secret else None
    if step is None:
        audit.record("totp_enrol_failed", user=user)
        return None
    kv().delete(f"totp-enrol:{user.id}")
    db.session.execute(delete(TotpEnrolment).where(TotpEnrolment.user_id == user.id))
    db.session.add(
        TotpEnrolment(
            user_id=user.id,
            secret_encrypted=pending["sealed"],
            confirmed_at=now(),
            last_step=step,
            vouched=vouched,
        )
    )
    codes = _new_recovery_codes(user)
    db.session.commit()
    audit.record("totp_enrolled", user=user, vouched=vouched)
    return codes


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)  # 40 bits, shown as xxxxx-xxxxx
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_hash_recovery(raw)))
    return codes


def verify(user: User, code: str) -> bool:
    """A current code from the app, never one already accepted."""
    enrolled = enrolment(user)
    if enrolled is None:
        return False
    try:
        secret = _fernet().decrypt(enrolled.secret_encrypted.encode()).decode()
    except InvalidToken:
        audit.record("totp_secret_unreadable", user=user)
        return False
    step = _matching_step(secret, code)
    if step is None:
        audit.record("otp_failed", user=user, purpose="totp")
        return False
    moved = db.session.execute(
        update(TotpEnrolment)
        .where(TotpEnrolment.user_id == user.id, TotpEnrolment.last_step < step)
        .values(last_step=step)
    )
    db.session.commit()
    if moved.rowcount != 1:
        audit.record("otp_reused", user=user, purpose="totp")
        return False
    audit.record("otp_verified", user=user, purpose="totp")
    return True


def use_recovery_code(user: User, code: str) -> bool:
    digest = _hash_recovery(code or "")
    used = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == digest,
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now())
    )
    db.session.commit()
    ok = used.rowcount == 1
    audit.record("recovery_code_used" if ok else "recovery_code_failed", user=user)
    return ok


def remaining_recovery_codes(user: User) -> int:
    return len(
        db.session.scalars(
            select(RecoveryCode.id).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
            )
        ).all()
    )


def renew_recovery_codes(user: User, code: str) -> list[str] | None:
    """New recovery codes (the old ones stop working) for a fresh code from the app."""
    if not verify(user, code):
        return None
    codes = _new_recovery_codes(user)
    db.session.commit()
    audit.record("recovery_codes_renewed", user=user)
    return codes


def disable(user: User, code: str) -> bool:
    """Turning the app off needs a fresh code from it."""
    if not verify(user, code):
        return False
    db.session.execute(delete(TotpEnrolment).where(TotpEnrolment.user_id == user.id))
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.commit()
    audit.record("totp_disabled", user=user)
    return True
