"""A cap on wrong second-factor codes over a day, per account.

The short limits (five wrong codes end an attempt, failed sign-ins lock for a while) reset as
time passes; alone they let a guesser try thousands of codes a day. This count lives 24 hours
from the first wrong code and nothing else clears it. At `otp.max_failures_per_day` the
account's second factor is locked (in the database): no code is taken, so neither sign-in
with a second factor nor a security change goes on, until the owner unlocks it from the link
mailed to them or at the counter. The owner is told.
"""

from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l

from ..clock import now
from ..store import audit, db, kv
from ..store.models import User

DAY = 24 * 3600
LOCKED = _l(
    "Too many wrong codes were entered for this account today, so its second factor is "
    "locked. Open the link we emailed to you, or bring your identity card to the one-stop "
    "counter, to unlock it."
)


def locked(user: User) -> bool:
    return user.second_factor_locked_at is not None


def record_wrong(user: User) -> bool:
    """Count one wrong code; returns True when this one locked the second factor."""
    count = kv().incr(f"mfa-wrong-day:{user.id}", DAY)
    if count < current_app.config["IDP"].otp.max_failures_per_day or locked(user):
        return False
    lock(user, count)
    return True


def lock(user: User, count: int) -> None:
    from ..accounts import links, notices

    user.second_factor_locked_at = now()
    audit.record("second_factor_locked", user=user, wrong_codes=count, commit=False)
    db.session.commit()
    ttl = current_app.config["IDP"].accounts.notice_link_ttl
    unlock_link = links.issue("mfa-unlock", user.id, "owner.unlock_second_factor", ttl, single=True)
    notices.security_change(user, "second_factor_locked", extra_link=unlock_link)


def unlock(user: User, by: str) -> bool:
    """Lift the lock (the owner's link or the counter); returns whether it was locked."""
    from ..accounts import links

    kv().delete(f"mfa-wrong-day:{user.id}")
    links.void_all("mfa-unlock", user.id)
    if not locked(user):
        return False
    user.second_factor_locked_at = None
    audit.record("second_factor_unlocked", user=user, by=by, commit=False)
    db.session.commit()
    return True
