"""The step after a right password that was stored unsalted (MD5/SHA-1 of an old portal):
the person chooses a new password before the sign-in finishes, and after any second factor
the account asks for, so a leaked old password alone changes nothing.

What is waiting lives in the interaction under "new_password" (the user and how far the
sign-in got: `amr`, `acr`, its method and factor), so it belongs to the browser that typed the
password (the interaction's cookie).
"""

from __future__ import annotations

from flask import Blueprint, redirect, request, url_for
from flask_babel import lazy_gettext as _l

from ..accounts import notices
from ..accounts import validators as v
from ..accounts.passwords import hash_password, verify_password
from ..store import audit, db, users
from ..store.models import User
from . import interaction
from .account import ActionForm
from .flow import client_id_of, complete_login, load, page

bp = Blueprint("new_password", __name__)


def complete(
    iid: str,
    ix: dict,
    client,  # noqa: ANN001
    user: User,
    amr: list[str],
    acr: str,
    method: str,
    factor: str | None = None,
):  # noqa: ANN201
    """The end of a password sign-in (after its second factor, if any): a new password first
    when the stored one must be replaced, then the session."""
    if user.password_change_required:
        waiting = {"user_id": user.id, "amr": amr, "acr": acr, "method": method, "factor": factor}
        interaction.update(iid, ix, new_password=waiting)
        return redirect(url_for("new_password.choose", iid=iid))
    return complete_login(iid, ix, client, user, amr, acr, method, factor=factor)


def _check(user: User) -> dict:
    errors: dict = {}
    new = request.form.get("password") or ""
    try:
        v.password(new, username_value=user.username)
    except v.FieldError as exc:
        errors["password"] = exc.message
    if not errors and new != (request.form.get("password_confirm") or ""):
        errors["password_confirm"] = _l("The two passwords are not the same.")
    if not errors and verify_password(user.password_hash, new):
        errors["password"] = _l("Choose a password different from the old one.")
    return errors


@bp.route("/interaction/<iid>/new-password", methods=["GET", "POST"])
def choose(iid: str):  # noqa: ANN201
    ix, params, client = load(iid, allow_hub=True)
    state = ix.get("new_password")
    user = users.by_id(state["user_id"]) if isinstance(state, dict) else None
    if user is None or not user.active:
        raise interaction.InteractionExpired(status=400)
    form = ActionForm()
    errors: dict = {}
    if request.method == "POST":
        if not form.validate_on_submit():
            raise interaction.InteractionExpired(status=400)
        errors = _check(user)
        if not errors:
            user.password_hash = hash_password(request.form["password"])
            user.password_change_required = False
            db.session.commit()
            audit.record(
                "password_changed",
                user=user,
                client_id=client_id_of(client),
                reason="legacy_unsalted",
            )
            notices.security_change(user, "password_changed")
            ix.pop("new_password", None)
            return complete_login(
                iid,
                ix,
                client,
                user,
                state["amr"],
                state["acr"],
                state["method"],
                factor=state.get("factor"),
            )
    return page(
        "login/new_password.html",
        params,
        400 if errors else 200,
        form=form,
        iid=iid,
        client=client,
        values={},
        errors=errors,
    )
