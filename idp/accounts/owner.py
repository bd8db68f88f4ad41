"""What the owner can do from a security notice, without signing in: end every session of the
account and report the change, or unlock a second factor locked by too many wrong codes.

A link opens a page with one button (a POST): mail scanners that open links change nothing.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

from ..login import factor_lock
from ..login.logout import end_all_for_user
from ..store import audit, db, users
from . import links

bp = Blueprint("owner", __name__)
NOT_VALID = _l("This link is not valid, was already used, or has expired.")


class CsrfForm(FlaskForm):
    """Only the CSRF token."""


def _page(title, message, button, done=False, status=200):  # noqa: ANN001, ANN202
    return render_template(
        "accounts/owner_action.html",
        form=CsrfForm(),
        title=title,
        message=message,
        button=button,
        done=done,
    ), status


def _owner_link(kind: str, token: str, title, ask, button, act):  # noqa: ANN001, ANN202
    """A notice's link: a page asking `ask` with one button; the POST uses the link up (once,
    whoever opens it first) and runs `act(user, record)`, whose message the page then shows."""
    record = links.peek(kind, token)
    user = users.by_id(record["user_id"]) if record else None
    if user is None:
        return _page(title, NOT_VALID, None, status=400)
    if request.method != "POST":
        return _page(title, ask, button)
    if not CsrfForm().validate_on_submit():
        abort(400)
    if links.take(kind, token) is None:
        return _page(title, NOT_VALID, None, status=400)
    return _page(title, act(user, record), None, done=True)


@bp.route("/account/report/<token>", methods=["GET", "POST"])
def report(token: str):  # noqa: ANN201
    def end_everything(user, record):  # noqa: ANN001, ANN202
        ended = end_all_for_user(user.id, "owner_reported", by=user.username)  # and its tokens
        links.void_pending_changes(user.id)
        reverted = _revert(user, record.get("revert") or {})
        audit.record(
            "security_change_reported",
            user=user,
            change=record.get("change"),
            sessions_ended=ended,
            reverted=sorted(reverted),
        )
        return _l(
            "Every session of your account has ended and we were told. Choose a new "
            'password with "Forgot password" on the sign-in page, or bring your identity '
            "card to the one-stop counter."
        )

    return _owner_link(
        "report",
        token,
        _l("It was not me"),
        _l(
            "If you did not make this change, end every session of your account now. Anyone "
            "signed in with it, on any device, is signed out."
        ),
        _l("End every session and report it"),
        end_everything,
    )


def _revert(user, revert: dict) -> dict:  # noqa: ANN001
    """Put back the email address the reported change replaced, as it was (proved)."""
    done = {}
    if revert.get("email") and revert["email"] != user.email:
        user.email, user.email_verified = revert["email"], True
        done["email"] = True
        db.session.commit()
    return done


@bp.route("/account/second-factor/unlock/<token>", methods=["GET", "POST"])
def unlock_second_factor(token: str):  # noqa: ANN201
    def unlock(user, record):  # noqa: ANN001, ANN202
        factor_lock.unlock(user, by=user.username)
        return _l("Your second factor works again.")

    return _owner_link(
        "mfa-unlock",
        token,
        _l("Unlock the second factor"),
        _l(
            "Too many wrong codes were entered for your account, so its second factor was "
            "locked. Unlock it only if the wrong codes were yours."
        ),
        _l("Unlock"),
        unlock,
    )
