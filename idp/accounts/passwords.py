"""Password hashing with argon2id (slow on purpose, unlike client secrets).

The cost comes from `[passwords]` in the configuration. A stored hash made with other
parameters, or in a former portal's form (legacy_hashes.py), still signs its owner in once
and is then replaced by one made with the configured parameters (`Check.rehash`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app, has_app_context

from . import legacy_hashes

MIN_LENGTH = 8
MAX_LENGTH = 256


@dataclass(frozen=True)
class Check:
    """The outcome of checking a password against what is stored."""

    ok: bool
    # Right, but stored in a weaker form or with other parameters: store a new hash now.
    rehash: bool = False
    # Right, but the stored form was unsalted MD5/SHA-1: the owner must choose a new password.
    must_change: bool = False


def _settings() -> tuple[int, int, int, bool]:
    if has_app_context():
        pw = current_app.config["IDP"].passwords
        return (
            pw.argon2_memory_kib,
            pw.argon2_time_cost,
            pw.argon2_parallelism,
            (pw.accept_unsalted_legacy),
        )
    from ..config import PasswordsConfig

    pw = PasswordsConfig()
    return pw.argon2_memory_kib, pw.argon2_time_cost, pw.argon2_parallelism, False


@lru_cache(maxsize=8)
def hasher_for(memory_kib: int, time_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(
        time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
    )


@lru_cache(maxsize=8)
def _dummy_hash(memory_kib: int, time_cost: int, parallelism: int) -> str:
    """Verifying against this keeps "no such user" as slow as "wrong password", at the
    configured cost."""
    return hasher_for(memory_kib, time_cost, parallelism).hash("dummy password that never matches")


def _hasher() -> PasswordHasher:
    return hasher_for(*_settings()[:3])


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def check_password(password_hash: str | None, password: str) -> Check:
    """Whether the password matches what is stored, and what to do about the stored form.
    No hash (an unknown user, an account without a password) spends the same argon2 time."""
    if not isinstance(password, str) or len(password) > MAX_LENGTH:
        return Check(False)
    memory, time_cost, lanes, allow_unsalted = _settings()
    hasher = hasher_for(memory, time_cost, lanes)
    if password_hash and not legacy_hashes.is_argon2(password_hash):
        if not legacy_hashes.verify(password_hash, password, allow_unsalted):
            return Check(False)
        return Check(True, rehash=True, must_change=legacy_hashes.is_unsalted(password_hash))
    try:
        ok = hasher.verify(password_hash or _dummy_hash(memory, time_cost, lanes), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Check(False)
    if not (ok and password_hash):
        return Check(False)
    return Check(True, rehash=hasher.check_needs_rehash(password_hash))


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; always spends the same argon2 time."""
    return check_password(password_hash, password).ok


def needs_rehash(password_hash: str) -> bool:
    return not legacy_hashes.is_argon2(password_hash) or _hasher().check_needs_rehash(password_hash)


def upgrade_stored_hash(user, password: str, check: Check) -> None:  # noqa: ANN001
    """After a right password: store it with the configured argon2id when the stored form is
    legacy or has other parameters (audited by form name, never the hash)."""
    if not (check.ok and check.rehash):
        return
    from ..store import audit, db

    was = legacy_hashes.scheme(user.password_hash or "")
    user.password_hash = hash_password(password)
    if check.must_change:
        user.password_change_required = True
    db.session.commit()
    audit.record("password_rehashed", user=user, was=was)
