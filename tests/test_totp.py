"""Authenticator apps: enrolment confirmed by a first code, ±1 time step, no reuse, recovery
codes shown once and usable once, disabling needs a fresh code. Time is injected."""

from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import select

from idp.login import totp
from idp.store import users
from idp.store.models import RecoveryCode, TotpEnrolment


@pytest.fixture
def user(app, hub):
    hub.add_user()
    with app.app_context():
        yield users.by_username("citizen01")


def code_at(secret: str, clock, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(int(clock()) + offset_steps * 30)


def enrol(app, user, clock):
    secret, uri = totp.start(user)
    assert uri.startswith("otpauth://totp/") and secret in uri
    codes = totp.confirm(user, code_at(secret, clock))
    return secret, codes


def test_enrolment_needs_a_right_first_code(app, user, clock):
    secret, _ = totp.start(user)
    assert totp.confirm(user, "000000" if code_at(secret, clock) != "000000" else "111111") is None
    assert totp.enrolment(user) is None
    codes = totp.confirm(user, code_at(secret, clock))
    assert len(codes) == 10 and len(set(codes)) == 10
    row = totp.enrolment(user)
    assert row is not None and secret not in row.secret_encrypted  # encrypted at rest


def test_codes_are_accepted_one_step_either_way_and_never_twice(app, user, clock):
    secret, _ = enrol(app, user, clock)
    clock.advance(60)
    assert totp.verify(user, code_at(secret, clock, -1))
    assert not totp.verify(user, code_at(secret, clock, -1))  # reuse
    clock.advance(30)
    assert totp.verify(user, code_at(secret, clock, +1))
    assert not totp.verify(user, code_at(secret, clock))  # older than the last accepted
    clock.advance(300)
    assert not totp.verify(user, code_at(secret, clock, -2))  # too old
    assert not totp.verify(user, "12345") and not totp.verify(user, "abcdef")


def test_recovery_codes_work_once(app, user, clock):
    _, codes = enrol(app, user, clock)
    assert totp.use_recovery_code(user, codes[0].upper())
    assert not totp.use_recovery_code(user, codes[0])
    assert not totp.use_recovery_code(user, "nope")
    assert totp.remaining_recovery_codes(user) == 9
    from idp.store import db

    hashes = db.session.scalars(select(RecoveryCode.code_hash)).all()
    assert all(code.replace("-", "") not in "".join(hashes) for code in codes)


def test_disable_needs_a_fresh_code(app, user, clock):
    secret, _ = enrol(app, user, clock)
    clock.advance(30)
    assert not totp.disable(user, "000000" if code_at(secret, clock) != "000000" else "111111")
    assert totp.disable(user, code_at(secret, clock))
    from idp.store import db

    assert db.session.scalar(select(TotpEnrolment)) is None
    assert db.session.scalar(select(RecoveryCode)) is None


def test_a_secret_waiting_for_its_first_code_is_not_stored_in_the_clear(app, user, clock):
    """The short-lived store may be a table on disk (SQLite's WAL file included)."""
    import json

    from idp.store import kv

    secret, _ = totp.start(user)
    waiting = kv().get(f"totp-enrol:{user.id}")
    assert waiting and secret not in json.dumps(waiting)
    assert totp.confirm(user, code_at(secret, clock)) is not None
