"""The citizen's own pages: who is signed in, and "devices and sessions", where each session
(and its client systems) can be ended."""

from __future__ import annotations

import functools

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_wtf import FlaskForm

from ..display import device, moment
from ..store import clients, users
from . import sessions
from .logout import end_all_for_user, end_session, logged_out_page, upstream_logout_uri

bp = Blueprint("account", __name__, url_prefix="/account")


class ActionForm(FlaskForm):
    """A form with only its CSRF token: every button here is a POST."""


def signed_in(view):  # noqa: ANN001, ANN201
    """Run the view with the live session and user; send anyone else to sign in first.
    POSTs must carry the form's CSRF token."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):  # noqa: ANN202
        session = sessions.current()
        user = users.by_id(session.user_id) if session else None
        if session is None or user is None or not user.active:
            return redirect(url_for("login.hub_login", next=request.path))
        if request.method == "POST" and not ActionForm().validate_on_submit():
            abort(400)
        return view(session, user, *args, **kwargs)

    return wrapper


@bp.route("")
@signed_in
def overview(session, user):  # noqa: ANN001, ANN201
    return render_template("account/overview.html", user=user, form=ActionForm())


@bp.route("/sessions")
@signed_in
def list_sessions(session, user):  # noqa: ANN001, ANN201
    rows = []
    for other in sessions.of_user(user.id):
        names = [c.name for c in (clients.get(cid) for cid in other.clients) if c is not None]
        rows.append(
            {
                "sid": other.sid,
                "current": other.sid == session.sid,
                "created": moment(other.created_at_dt),
                "last_seen": moment(other.last_seen_dt),
                "device": device(other.user_agent),
                "ip": other.ip or "?",
                "clients": names,
            }
        )
    return render_template("account/sessions.html", user=user, rows=rows, form=ActionForm())


@bp.route("/sessions/<sid>/end", methods=["POST"])
@signed_in
def end_one(session, user, sid: str):  # noqa: ANN001, ANN201
    target = sessions.by_sid(sid)
    if target is None or target.user_id != user.id:
        return redirect(url_for("account.list_sessions"))
    front = end_session(target, "user_ended_session", by=user.username)
    if target.sid == session.sid:
        return logged_out_page(front, target.sid, None)
    return redirect(url_for("account.list_sessions"))


@bp.route("/sessions/end-others", methods=["POST"])
@signed_in
def end_others(session, user):  # noqa: ANN001, ANN201
    end_all_for_user(user.id, "user_ended_other_sessions", by=user.username, keep_sid=session.sid)
    return redirect(url_for("account.list_sessions"))


@bp.route("/logout", methods=["POST"])
@signed_in
def sign_out(session, user):  # noqa: ANN001, ANN201

    front = end_session(session, "user_signed_out", by=user.username)
    return logged_out_page(front, session.sid, upstream_logout_uri(session.upstream, None))
