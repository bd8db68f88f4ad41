"""The citizen's national links on the account page: see them, and remove one — never the last
way to sign in (no local password, or a password closed by national-only mode)."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l

from ..accounts import notices
from ..display import moment
from ..login import step_up
from ..login.account import ActionForm, signed_in
from ..store import audit, federation
from . import policy
from .labels import label

bp = Blueprint("account_links", __name__, url_prefix="/account")


def _can_remove(user, links) -> bool:  # noqa: ANN001
    password_works = user.password_hash is not None and not policy.password_closed_for(user)
    return password_works or len(links) > 1


def _page(user, error=None):  # noqa: ANN001, ANN202
    links = federation.of_user(user.id)
    connectors = current_app.config["IDP"].connectors
    rows = [
        {
            "id": link.id,
            "label": label(link.connector) if link.connector in connectors else link.connector,
            "level": link.level or "—",
            "first": moment(link.first_login_at),
            "last": moment(link.last_login_at),
        }
        for link in links
    ]
    return render_template(
        "account/links.html",
        user=user,
        rows=rows,
        removable=_can_remove(user, links),
        form=ActionForm(),
        error=error,
    ), (400 if error else 200)


@bp.route("/links")
@signed_in
def list_links(session, user):  # noqa: ANN001, ANN201
    return _page(user)


@bp.route("/links/<int:link_id>/remove", methods=["POST"])
@signed_in
@step_up.required("/account/links")
def remove(session, user, link_id: int):  # noqa: ANN001, ANN201
    if not _can_remove(user, federation.of_user(user.id)):
        return _page(
            user,
            _l(
                "This is the only way to sign in to your account, so it cannot be removed. Set "
                "a password first, or link another national account."
            ),
        )
    row = federation.unlink(user, link_id)
    if row is not None:
        audit.record(
            "federated_link_removed",
            user=user,
            connector=row.connector,
            subject=federation.masked(row.subject),
        )
        notices.security_change(user, "link_removed")
    return redirect(url_for("account_links.list_links"))
