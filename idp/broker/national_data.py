"""Verified national values into a local account: at a first national login (new account) and
when an existing account is linked. What the account lacks is filled; what the person entered
is replaced only when they choose. Each value taken is marked with its source and time in
`users.verified_fields`, so the account page and the counter can tell a value the state
vouched for from one typed in."""

from __future__ import annotations

from ..accounts import validators as v
from ..clock import now
from ..store import db
from ..store.models import User
from .upstream import UpstreamIdentity

# The mobile number is also a sign-in factor: it is filled when the account has none, and
# changed only through the account's own phone page (with its code and the owner's notice).
NEVER_REPLACED = {"phone"}


def _mobile(value: str | None) -> str | None:
    try:
        return v.phone(value, required=False)
    except v.FieldError:
        return None  # a landline or a malformed number is not a mobile second factor


def _values(user: User, identity: UpstreamIdentity) -> dict[str, str]:
    """Account column → the verified value, in the account's own forms."""
    claims = identity.claims
    name_column = "business_name" if user.account_type == "organization" else "full_name"
    values = {
        name_column: (claims.get("name") or "")[:200],
        "birthdate": claims.get("birthdate") or "",
        "gender": claims.get("gender") or "",
        "address": (claims.get("address") or "")[:500],
        "phone": _mobile(claims.get("phone")) or "",
    }
    if values["gender"] in ("male", "female"):
        values["sex"] = values["gender"]
    if user.account_type == "organization":
        for personal in ("birthdate", "gender"):
            values.pop(personal)
    return {column: value for column, value in values.items() if value}


def fill(user: User, identity: UpstreamIdentity, replace: bool = False) -> list[str]:
    """Take the verified values into the account; returns the columns that changed."""
    marks = dict(user.verified_fields or {})
    stamp = {"source": identity.connector, "at": now()}
    changed = []
    for column, value in _values(user, identity).items():
        current = getattr(user, column)
        if current != value:
            if current and (not replace or column in NEVER_REPLACED):
                continue
            setattr(user, column, value)
            changed.append(column)
            if column == "phone":
                user.phone_verified = True
        marks[column] = stamp
    user.verified_fields = marks
    db.session.commit()
    return changed
