"""The citizen's own pages: who is signed in, and "devices and sessions", where each session
(and its client systems) can be ended."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_wtf import FlaskForm

from ..store import clients, users
from . import sessions
from .logout import end_all_for_user, end_session

bp = Blueprint("account", __name__, url_prefix="/account")


class ActionForm(FlaskForm):
    """A form with only its CSRF token: every button here is a POST."""


def _signed_in():  # noqa: ANN202
    session = sessions.current()
    user = users.by_id(session.user_id) if session else None
    if session is None or user is None or not user.active:
        return None, None
    return session, user


def _require_sign_in():  # noqa: ANN202
    session, user = _signed_in()
    if session is None:
        return None, None, redirect(url_for("login.hub_login", next=request.path))
    return session, user, None


@bp.route("")
def overview():  # noqa: ANN201
    session, user, to_login = _require_sign_in()
    if to_login:
        return to_login
    return render_template("account/overview.html", user=user, form=ActionForm())


@bp.route("/sessions")
def list_sessions():  # noqa: ANN201
    session, user, to_login = _require_sign_in()
    if to_login:
        return to_login
    rows = []
    for other in sessions.of_user(user.id):
        names = [c.name for c in (clients.get(cid) for cid in other.clients) if c is not None]
        rows.append(
            {
                "sid": other.sid,
                "current": other.sid == session.sid,
                "created": format_datetime(other.created_at_dt, "short"),
                "last_seen": format_datetime(other.last_seen_dt, "short"),
                "user_agent": other.user_agent or "?",
                "ip": other.ip or "?",
                "clients": names,
            }
        )
    return render_template("account/sessions.html", user=user, rows=rows, form=ActionForm())


@bp.route("/sessions/<sid>/end", methods=["POST"])
def end_one(sid: str):  # noqa: ANN201
    session, user, to_login = _require_sign_in()
    if to_login:
        return to_login
    if not ActionForm().validate_on_submit():
        abort(400)
    target = sessions.by_sid(sid)
    if target is None or target.user_id != user.id:
        return redirect(url_for("account.list_sessions"))
    front = end_session(target, "user_ended_session", by=user.username)
    if target.sid == session.sid:
        from ..oidc.end_session import logged_out_page

        return logged_out_page(front, target.sid, None)
    return redirect(url_for("account.list_sessions"))


@bp.route("/sessions/end-others", methods=["POST"])
def end_others():  # noqa: ANN201
    session, user, to_login = _require_sign_in()
    if to_login:
        return to_login
    if not ActionForm().validate_on_submit():
        abort(400)
    end_all_for_user(user.id, "user_ended_other_sessions", by=user.username, keep_sid=session.sid)
    return redirect(url_for("account.list_sessions"))


@bp.route("/logout", methods=["POST"])
def sign_out():  # noqa: ANN201
    session, user, to_login = _require_sign_in()
    if to_login:
        return to_login
    if not ActionForm().validate_on_submit():
        abort(400)
    from ..oidc.end_session import logged_out_page

    return logged_out_page(
        end_session(session, "user_signed_out", by=user.username), session.sid, None
    )
