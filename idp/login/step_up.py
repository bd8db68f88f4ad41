"""Security changes need the account's existing second factor, passed recently.

A stolen password alone must not enrol, renew or turn off a factor, move the email address or
the phone (the recovery channels), change the password or remove a national link. So when the
account has a second factor (an authenticator app, or a proved phone), the session must have
passed it within `login.step_up_max_age`; a factor being enrolled never proves itself, since
only what the session passed before the change counts.

The `admin` and `staff` roles ask more: the factor the session passed must be vouched for —
enrolled by a session that had passed another factor, or set up at the counter.
"""

from __future__ import annotations

import functools

from flask import current_app, redirect, render_template, request, url_for

from ..clock import now
from ..store import audit
from ..store.models import User
from . import totp
from .sessions import SsoSession

ROLES_NEEDING_VOUCHED = frozenset({"admin", "staff"})


def has_second_factor(user: User) -> bool:
    return bool(user.phone_verified) or totp.enrolment(user) is not None


def recent(session: SsoSession) -> bool:
    """Whether this session passed a second factor within the configured time. A sign-in
    through a national connector counts too: a stolen local password does not give it."""
    max_age = current_app.config["IDP"].login.step_up_max_age
    at = now()
    if session.upstream and at - session.auth_time <= max_age:
        return True
    return bool(session.mfa_at) and at - session.mfa_at <= max_age


def needed(session: SsoSession, user: User) -> bool:
    """Whether a security change must first be confirmed with the existing factor."""
    return has_second_factor(user) and not recent(session)


def vouched_methods(user: User) -> list[str]:
    """The second factors of this account that open the console."""
    methods = []
    enrolled = totp.enrolment(user)
    if enrolled is not None and enrolled.vouched:
        methods += ["totp", "recovery"]
    if user.phone and user.phone_verified and user.phone_vouched:
        methods.append("sms")
    return methods


def session_vouched(session: SsoSession, user: User) -> bool:
    """Whether the factor this session passed is one the console accepts."""
    return "mfa" in (session.amr or []) and session.mfa_factor in vouched_methods(user)


def console_gate(session: SsoSession, user: User):  # noqa: ANN201
    """For the admin and staff pages: None when the session passed a vouched factor, else
    the answer — a GET goes to confirm with one (offered first), anything else is refused.
    An app enrolled with a stolen password never gets past this."""
    if session_vouched(session, user):
        return None
    vouched = vouched_methods(user)
    if request.method == "GET" and vouched:
        return redirect(confirm_url(request.full_path.rstrip("?"), method=vouched[0]))
    return render_template("admin/needs_second_factor.html"), 403


def confirm_url(next_path: str, method: str | None = None) -> str:
    return url_for("authenticators.confirm_it_is_you", next=next_path, method=method)


def required(back: str):  # noqa: ANN201
    """For views taking (session, user): send a session that has not recently passed the
    account's second factor to confirm it first. A GET comes back to itself, a POST to `back`
    (its form), and nothing of the POST is applied."""

    def decorate(view):  # noqa: ANN001, ANN202
        @functools.wraps(view)
        def wrapper(session, user, *args, **kwargs):  # noqa: ANN001, ANN202
            if needed(session, user):
                audit.record("step_up_required", user=user, page=request.path[:100])
                target = request.full_path.rstrip("?") if request.method == "GET" else back
                return redirect(confirm_url(target), 303)
            return view(session, user, *args, **kwargs)

        return wrapper

    return decorate


def vouch(user: User, by: str) -> list[str]:
    """Someone who checked the person (the counter, another admin) vouches for the account's
    proved phone and its app; returns what was vouched for. Audited with who."""
    from ..store import db

    vouched = []
    if user.phone_verified:
        user.phone_vouched = True
        vouched.append("sms")
    enrolled = totp.enrolment(user)
    if enrolled is not None:
        enrolled.vouched = True
        vouched.append("totp")
    audit.record("second_factor_vouched", user=user, factors=vouched, by=by, commit=False)
    db.session.commit()
    return vouched
