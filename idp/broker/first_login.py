"""After the national portal vouched for someone: a returning person signs in as the linked
account; at a first national login the person links an existing local account (proved by its
identity number and password, a wrong password counting against that account like any other)
or creates a new account from the national claims (no local password until they set one).
Optional automatic linking by identity number needs the configured assurance level, never email.

The verified identity waits in the interaction under "national" while the person chooses.
"""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, current_app, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..accounts import validators as v
from ..accounts.passwords import check_password, upgrade_stored_hash
from ..login import assurance, flow, interaction, throttle
from ..login.account import ActionForm
from ..store import audit, db, federation, users
from ..store.models import User
from .upstream import UpstreamIdentity

bp = Blueprint("first_login", __name__)

NATIONAL_AMR = ["fed"]


def _sign_in(iid: str, ix: dict, client, user: User, identity: UpstreamIdentity):  # noqa: ANN001, ANN202
    acr = identity.level if assurance.rank(identity.level) >= 0 else None
    acr = acr or current_app.config["IDP"].login.password_acr
    ix.pop("national", None)
    upstream = {
        "connector": identity.connector,
        "sub": identity.upstream_sub,
        "sid": identity.upstream_sid,
        "id_token": identity.id_token,
    }
    return flow.complete_login(
        iid, ix, client, user, NATIONAL_AMR, acr, _method(identity), upstream
    )


def _method(identity: UpstreamIdentity) -> str:
    """national:<connector>, with how they signed in there when the upstream says it."""
    base = f"national:{identity.connector}"
    return f"{base}/{identity.login_kind}" if identity.login_kind else base


def _key_column(identity: UpstreamIdentity):  # noqa: ANN202
    return User.national_id if identity.account_type == "citizen" else User.tax_code


def _identity_number(identity: UpstreamIdentity) -> str | None:
    name = "national_id" if identity.account_type == "citizen" else "tax_code"
    return identity.claims.get(name)


def _active_with_number(identity: UpstreamIdentity, number: str) -> list[User]:
    return list(
        db.session.scalars(
            select(User).where(
                _key_column(identity) == number,
                User.active.is_(True),
                User.account_type == identity.account_type,
            )
        )
    )


def _link(user: User, identity: UpstreamIdentity, how: str) -> bool:
    try:
        federation.link(user, identity.connector, identity.subject, identity.raw, identity.level)
    except federation.AlreadyLinked:
        audit.record("federated_link_refused", user=user, connector=identity.connector)
        return False
    audit.record(
        "federated_link_created",
        user=user,
        connector=identity.connector,
        subject=identity.subject,
        level=identity.level,
        how=how,
    )
    if how != "new_account":
        from ..accounts import notices

        notices.security_change(user, "link_added")
    return True


def after_upstream(iid: str, ix: dict, client, identity: UpstreamIdentity):  # noqa: ANN001, ANN201
    """A verified national identity came back."""
    link = federation.find(identity.connector, identity.subject)
    if link is not None:
        user = users.by_id(link.user_id)
        if user is None or not user.active:
            audit.record("login_refused", user=user, reason="locked", connector=identity.connector)
            return redirect(url_for("login.login", iid=iid, reason="national_locked"))
        federation.seen(link, identity.raw, identity.level)
        return _sign_in(iid, ix, client, user, identity)
    broker = current_app.config["IDP"].broker
    number = _identity_number(identity)
    if broker.auto_link and number and identity.level == broker.auto_link_level:
        matches = _active_with_number(identity, number)
        if len(matches) == 1 and _link(matches[0], identity, "automatic"):
            return _sign_in(iid, ix, client, matches[0], identity)
    interaction.update(iid, ix, national=asdict(identity))
    return redirect(url_for("first_login.choose", iid=iid))


@bp.route("/interaction/<iid>/national/first", methods=["GET", "POST"])
def choose(iid: str):  # noqa: ANN201
    ix, params, client = flow.load(iid, allow_hub=True)
    if not ix.get("national"):
        return redirect(url_for("login.login", iid=iid))
    identity = UpstreamIdentity(**ix["national"])
    form = ActionForm()
    errors: dict = {}
    values = {
        "username": _proposed_username(identity),
        "email": identity.claims.get("email", ""),
        "national_id": "",
    }
    if request.method == "POST":
        if not form.validate_on_submit():
            raise interaction.InteractionExpired(status=400)
        action = request.form.get("action")
        if action == "link":
            user, errors = _link_existing(identity, request.form)
        else:
            values.update(
                username=request.form.get("username", "")[:64],
                email=request.form.get("email", "")[:254],
            )
            user, errors = _create(identity, request.form)
        if user is not None:
            return _sign_in(iid, ix, client, user, identity)
    return flow.page(
        "login/national_first.html",
        params,
        400 if errors else 200,
        form=form,
        iid=iid,
        client=client,
        identity=identity,
        number=_identity_number(identity),
        errors=errors,
        values=values,
    )


def _proposed_username(identity: UpstreamIdentity) -> str:
    """A free username made from the national name, for the person to keep or change."""
    base = v.username_from_name(identity.claims.get("name") or "")
    for candidate in [base, *(f"{base}{n}" for n in range(2, 100))]:
        if users.by_username(candidate) is None:
            return candidate
    return ""


def _link_existing(identity: UpstreamIdentity, form) -> tuple[User | None, dict]:  # noqa: ANN001
    if not _identity_number(identity):
        # Nothing from the portal ties this national account to a local one: a password alone
        # (perhaps a stolen one) must not join them. The counter links such accounts.
        audit.record("federated_link_refused", connector=identity.connector, reason="no_number")
        return None, {
            "link": _l(
                "The national portal gave no identity number or tax code for this account, so "
                "it cannot be linked here. Please contact the one-stop counter, or create a new "
                "account below."
            )
        }
    number = (form.get("national_id") or "").strip()[:20]
    if number != _identity_number(identity):
        # Only the account of the number the portal vouched for can be linked; said before any
        # password is checked, so the answer tells nothing about one.
        audit.record("federated_link_refused", connector=identity.connector, reason="other_number")
        return None, {"link": _l("The identity number or the password is not right.")}
    password = form.get("password") or ""
    matches = _active_with_number(identity, number)
    user = matches[0] if len(matches) == 1 else None
    name = user.username if user else number or "-"
    until = throttle.locked_until(request.remote_addr, name)
    if until:
        return None, {"link": _l("Too many failed attempts. Try again later.")}
    check = check_password(user.password_hash if user else None, password[:256])
    if user is None or not check.ok:
        throttle.record_failure(request.remote_addr, name)
        audit.record("login_failure", user=user, username=name[:64], method="national_link")
        return None, {"link": _l("The identity number or the password is not right.")}
    upgrade_stored_hash(user, password[:256], check)
    if not _link(user, identity, "password"):
        return None, {"link": _l("This national account is already linked to an account.")}
    throttle.clear(user.username)
    return user, {}


def _create(identity: UpstreamIdentity, form) -> tuple[User | None, dict]:  # noqa: ANN001
    errors: dict = {}
    username = email = None
    try:
        username = v.username(form.get("username"))
        if users.by_username(username) is not None:
            errors["username"] = _l("This username is taken. Choose another one.")
    except v.FieldError as exc:
        errors["username"] = exc.message
    try:
        email = v.email(form.get("email"))
    except v.FieldError as exc:
        errors["email"] = exc.message
    number = _identity_number(identity)
    if number and _active_with_number(identity, number):
        errors["create"] = _l(
            "An account with this identity number already exists. Link it above with its "
            "password instead."
        )
    if errors:
        return None, errors
    claims = identity.claims
    try:
        phone = v.phone(claims.get("phone"), required=False)
    except v.FieldError:
        phone = None
    organization = identity.account_type == "organization"
    try:
        user = users.create(
            username=username,
            password=None,
            full_name=(claims.get("name") or username)[:200],
            email=email,
            phone=phone,
            phone_verified=phone is not None,
            national_id=None if organization or not number else number[:12],
            birthdate=claims.get("birthdate"),
            gender=(claims.get("gender") or "")[:16] or None,
            address=(claims.get("address") or "")[:500] or None,
            account_type=identity.account_type,
            business_name=claims.get("name")[:200] if organization and claims.get("name") else None,
            tax_code=number[:14] if organization and number else None,
        )
    except IntegrityError:
        db.session.rollback()
        return None, {"create": _l("This account could not be created. Please try again.")}
    audit.record("user_created_from_national", user=user, connector=identity.connector)
    if not _link(user, identity, "new_account"):
        return None, {"create": _l("This national account is already linked to an account.")}
    return user, {}
