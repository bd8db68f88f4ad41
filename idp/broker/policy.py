"""National-only mode: from a configured date, an account type signs in only through the
national portal (Decree 69/2024/NĐ-CP, Art. 40). Staff and admins keep local sign-in, with a
second factor."""

from __future__ import annotations

from datetime import datetime

from flask import current_app

from ..clock import VIETNAM, now
from ..store.models import User

PRIVILEGED = {"staff", "admin"}


def _start(account_type: str) -> int | None:
    broker = current_app.config["IDP"].broker
    value = (
        broker.national_only_citizen_from
        if account_type == "citizen"
        else broker.national_only_organization_from
    )
    if not value:
        return None
    return int(datetime.fromisoformat(value).replace(tzinfo=VIETNAM).timestamp())


def national_only(account_type: str) -> bool:
    """Whether local passwords are closed for this account type now."""
    start = _start(account_type)
    return start is not None and now() >= start


def privileged(user: User) -> bool:
    return bool(PRIVILEGED & set(user.roles or []))


def password_closed_for(user: User) -> bool:
    """A citizen or organisation past its date; never staff or admins."""
    return national_only(user.account_type) and not privileged(user)


def needs_second_factor(user: User) -> bool:
    """Staff and admins who keep a local password while their type is national-only."""
    return national_only(user.account_type) and privileged(user)
