"""The step after a right password that was stored unsalted (MD5/SHA-1 of an old portal):
the person chooses a new password before anything else happens.

What is waiting lives in the interaction under "new_password" (the user and the `amr` so far),
so it belongs to the browser that typed the password (the interaction's cookie).
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, request, url_for
from flask_babel import lazy_gettext as _l

from ..accounts import notices
from ..accounts import validators as v
from ..accounts.passwords import hash_password, verify_password
from ..store import audit, db, users
from ..store.models import User
from . import assurance, interaction, second_factor
from .account import ActionForm
from .flow import client_id_of, complete_login, load, page

bp = Blueprint("new_password", __name__)


def begin(iid: str, ix: dict, user: User, amr: list[str]):  # noqa: ANN201
    interaction.update(iid, ix, new_password={"user_id": user.id, "amr": amr})
    return redirect(url_for("new_password.choose", iid=iid))


def finish(iid: str, ix: dict, client, params: dict, user: User, amr: list[str]):  # noqa: ANN001, ANN201
    """Where a right password goes next: a second factor, or a finished sign-in."""
    required = assurance.required_level(params, client, user)
    if assurance.second_factor_at_login(user, required):
        return second_factor.begin(iid, ix, user, amr)
    cfg = current_app.config["IDP"]
    return complete_login(iid, ix, client, user, amr, cfg.login.password_acr, "password")


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
            return finish(iid, ix, client, params, user, state["amr"])
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
