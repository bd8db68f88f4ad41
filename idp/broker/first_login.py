"""After the national portal vouched for someone: a returning person signs in as the linked
account; at a first national login the person links an existing local account or creates a new
one from the national claims (no local password until they set one).

An existing account is proved in one of three ways, never by name, email or phone:
- its identity number and password (a wrong password counting against it like any other);
- a sign-in through a connector already linked to it ("prove it with the portal you used
  before"), for an account that has no password;
- automatically, when this connector and one already linked to the account both assert
  identity numbers the hub trusts (`trusted_identity`) and both this login and that link reached
  `[broker] auto_link_level`, or by `auto_link` at that level.
Linking fills what the account lacks from the verified national values (the person may choose
to replace what differs), each marked with its source and time.

The verified identity waits in the interaction under "national" while the person chooses; a
proof in progress under "proving" (the connector it goes through).
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
from . import health, national_data
from .labels import label
from .upstream import Connector, UpstreamError, UpstreamIdentity

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


def _link(user: User, identity: UpstreamIdentity, how: str, replace: bool = False) -> bool:
    try:
        federation.link(user, identity.connector, identity.subject, identity.raw, identity.level)
    except federation.AlreadyLinked:
        audit.record("federated_link_refused", user=user, connector=identity.connector)
        return False
    audit.record(
        "federated_link_created",
        user=user,
        connector=identity.connector,
        subject=federation.masked(identity.subject),
        level=identity.level,
        how=how,
    )
    if how != "new_account":
        from ..accounts import notices

        filled = national_data.fill(user, identity, replace=replace)
        if filled:
            audit.record("profile_filled_from_national", user=user, fields=filled)
        notices.security_change(user, "link_added")
    return True


def _trusted_match(identity: UpstreamIdentity, number: str | None) -> User | None:
    """The one account this login may join without asking: this connector and one the account
    is already linked through both vouch for identity numbers, and both that link and this
    login reached `[broker] auto_link_level` (LoA2). A lower level asserts a number nobody
    checked: it neither joins an account nor lets a later verified login be joined to the
    account it made."""
    connectors = current_app.config["IDP"].connectors
    floor = assurance.rank(current_app.config["IDP"].broker.auto_link_level)
    if (
        not number
        or floor < 0
        or not connectors[identity.connector].trusted_identity
        or assurance.rank(identity.level) < floor
    ):
        return None
    matches = _active_with_number(identity, number)
    if len(matches) != 1:
        return None
    for link in federation.of_user(matches[0].id):
        other = connectors.get(link.connector)
        if (
            link.connector != identity.connector
            and other is not None
            and other.trusted_identity
            and assurance.rank(link.level) >= floor
        ):
            return matches[0]
    return None


def after_upstream(iid: str, ix: dict, client, identity: UpstreamIdentity):  # noqa: ANN001, ANN201
    """A verified national identity came back."""
    link = federation.find(identity.connector, identity.subject)
    if ix.get("proving") and ix.get("national"):
        return _proved(iid, ix, client, identity, link)
    if link is not None:
        user = users.by_id(link.user_id)
        if user is None or not user.active:
            audit.record("login_refused", user=user, reason="locked", connector=identity.connector)
            return redirect(
                url_for("login.login", iid=iid, reason="national_locked", via=identity.connector)
            )
        federation.seen(link, identity.raw, identity.level)
        return _sign_in(iid, ix, client, user, identity)
    broker = current_app.config["IDP"].broker
    number = _identity_number(identity)
    trusted = _trusted_match(identity, number)
    if trusted is not None and _link(trusted, identity, "trusted_identity"):
        return _sign_in(iid, ix, client, trusted, identity)
    if broker.auto_link and number and identity.level == broker.auto_link_level:
        matches = _active_with_number(identity, number)
        if len(matches) == 1 and _link(matches[0], identity, "automatic"):
            return _sign_in(iid, ix, client, matches[0], identity)
    ix.pop("proving", None)
    interaction.update(iid, ix, national=asdict(identity))
    return redirect(url_for("first_login.choose", iid=iid))


def _proved(iid: str, ix: dict, client, proof: UpstreamIdentity, link):  # noqa: ANN001, ANN202
    """Back from "prove it with the portal you used before": the sign-in there must be one
    already linked to the account whose identity number the waiting national login carries."""
    waiting = UpstreamIdentity(**ix["national"])
    via = ix.pop("proving")
    user = users.by_id(link.user_id) if link is not None else None
    number = _identity_number(waiting)
    proved = (
        proof.connector == via
        and user is not None
        and user.active
        and user.account_type == waiting.account_type
        and number is not None
        and number == (user.national_id if user.account_type == "citizen" else user.tax_code)
    )
    if not proved:
        audit.record(
            "federated_link_refused",
            user=user,
            connector=waiting.connector,
            reason="proof_mismatch",
            proved_with=proof.connector,
        )
        interaction.update(iid, ix)
        return redirect(url_for("first_login.choose", iid=iid, proof="mismatch"))
    federation.seen(link, proof.raw, proof.level)
    if not _link(user, waiting, f"proved_with:{proof.connector}", replace=ix.pop("replace", False)):
        interaction.update(iid, ix)
        return redirect(url_for("first_login.choose", iid=iid, proof="linked"))
    return _sign_in(iid, ix, client, user, proof)


PROOF_ERRORS = {
    "mismatch": _l(
        "That sign-in is not the one linked to the account with this identity number, so "
        "nothing was linked. Sign in there with the account you used before, or choose below."
    ),
    "linked": _l("This national account is already linked to an account."),
    "other": _l("That portal cannot prove this account. Use one of the buttons below."),
}


@bp.route("/interaction/<iid>/national/first", methods=["GET", "POST"])
def choose(iid: str):  # noqa: ANN201
    ix, params, client = flow.load(iid, allow_hub=True)
    if not ix.get("national"):
        return redirect(url_for("login.login", iid=iid))
    identity = UpstreamIdentity(**ix["national"])
    form = ActionForm()
    errors: dict = {}
    if request.args.get("proof") in PROOF_ERRORS:
        errors["prove"] = PROOF_ERRORS[request.args["proof"]]
    values = {
        "username": _proposed_username(identity),
        "email": identity.claims.get("email", ""),
        "national_id": "",
    }
    existing = _existing_account(identity)
    provers = _provers(identity, existing)
    if request.method == "POST":
        if not form.validate_on_submit():
            raise interaction.InteractionExpired(status=400)
        action = request.form.get("action")
        replace = request.form.get("replace") == "1"
        user = None
        if action == "prove":
            if request.form.get("connector") in provers:
                # The waiting identity stays; the next national answer must prove the account.
                interaction.update(iid, ix, proving=request.form["connector"], replace=replace)
                return redirect(url_for("broker.start", iid=iid, name=request.form["connector"]))
            errors = {"prove": PROOF_ERRORS["other"]}
        elif action == "link":
            user, errors = _link_existing(identity, request.form, provers, replace)
        else:
            values.update(
                username=request.form.get("username", "")[:64],
                email=request.form.get("email", "")[:254],
            )
            user, errors = _create(identity, request.form, provers)
        if user is not None:
            return _sign_in(iid, ix, client, user, identity)
    response = flow.page(
        "login/national_first.html",
        params,
        400 if errors else 200,
        form=form,
        iid=iid,
        client=client,
        identity=identity,
        portal=label(identity.connector),
        number=_identity_number(identity),
        existing=existing,
        provers=provers,
        no_password=_no_password(provers)
        if existing is not None and existing.password_hash is None and not provers
        else None,
        errors=errors,
        values=values,
        local_match=existing is not None,
    )
    # A proof's form posts, then redirects to that portal: CSP form-action must allow it.
    origins = [response.csp_form_action, *(_portal_origin(name) for name in provers)]
    response.csp_form_action = " ".join(dict.fromkeys(o for o in origins if o))
    return response


def _portal_origin(name: str) -> str:
    """Where a connector's sign-in page is (its authorization endpoint's origin). Read from
    the configuration or cached discovery; fetched (bounded by the connector's timeout) only
    when neither has it and the portal is not already known to be failing."""
    connector = Connector(name, current_app.config["IDP"].connectors[name])
    endpoint = connector.known_authorization_endpoint()
    if not endpoint and health.unavailable(name) is None:
        try:
            endpoint = connector.metadata()["authorization_endpoint"]
        except UpstreamError:
            endpoint = ""  # the proof's start reports the portal as unreachable
    return flow.redirect_origin(endpoint)


def _existing_account(identity: UpstreamIdentity) -> User | None:
    """The active account with the identity number the portal vouched for, if exactly one."""
    number = _identity_number(identity)
    matches = _active_with_number(identity, number) if number else []
    return matches[0] if len(matches) == 1 else None


def _provers(identity: UpstreamIdentity, user: User | None) -> dict[str, str]:
    """The other connectors the account is linked through, by name → label: signing in
    through one of them proves the account is this person's."""
    if user is None:
        return {}
    configured = current_app.config["IDP"].connectors
    return {
        link.connector: label(link.connector)
        for link in federation.of_user(user.id)
        if link.connector != identity.connector and link.connector in configured
    }


def _proposed_username(identity: UpstreamIdentity) -> str:
    """A free username made from the national name, for the person to keep or change."""
    base = v.username_from_name(identity.claims.get("name") or "")
    for candidate in [base, *(f"{base}{n}" for n in range(2, 100))]:
        if users.by_username(candidate) is None:
            return candidate
    return ""


def _link_existing(
    identity: UpstreamIdentity,
    form,  # noqa: ANN001
    provers: dict[str, str],
    replace: bool,
) -> tuple[User | None, dict]:
    portal = label(identity.connector)
    if not _identity_number(identity):
        # Nothing from the portal ties this national account to a local one: a password alone
        # (perhaps a stolen one) must not join them. The counter links such accounts.
        audit.record("federated_link_refused", connector=identity.connector, reason="no_number")
        return None, {
            "link": _l(
                "%(portal)s gave no identity number or tax code for this account, so it cannot "
                "be linked here. Please contact the one-stop counter, or create a new account "
                "below.",
                portal=portal,
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
    if user is not None and user.password_hash is None:
        # A password it never had cannot be guessed: nothing is checked or counted.
        audit.record(
            "federated_link_refused", user=user, connector=identity.connector, reason="no_password"
        )
        return None, {"link": _no_password(provers)}
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
    if not _link(user, identity, "password", replace=replace):
        return None, {"link": _l("This national account is already linked to an account.")}
    throttle.clear(user.username)
    return user, {}


def _no_password(provers: dict[str, str]):  # noqa: ANN202
    if provers:
        return _l(
            "Your account here has no password: it was made through %(portals)s. Prove it is "
            "yours by signing in there (the button below).",
            portals=", ".join(provers.values()),
        )
    return _l("Your account here has no password. Please contact the one-stop counter to link it.")


def _create(
    identity: UpstreamIdentity,
    form,  # noqa: ANN001
    provers: dict[str, str],
) -> tuple[User | None, dict]:
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
        errors["create"] = (
            _l(
                "An account with this identity number already exists. Prove it is yours with "
                "%(portals)s (the button above) instead.",
                portals=", ".join(provers.values()),
            )
            if provers
            else _l(
                "An account with this identity number already exists. Link it above with its "
                "password instead."
            )
        )
    if errors:
        return None, errors
    claims = identity.claims
    organization = identity.account_type == "organization"
    try:
        user = users.create(
            username=username,
            password=None,
            full_name=username,
            email=email,
            national_id=None if organization or not number else number[:12],
            account_type=identity.account_type,
            tax_code=number[:14] if organization and number else None,
        )
        national_data.fill(user, identity, replace=True)
    except IntegrityError:
        db.session.rollback()
        return None, {"create": _l("This account could not be created. Please try again.")}
    if organization and claims.get("name"):
        user.business_name = claims["name"][:200]
        db.session.commit()
    audit.record("user_created_from_national", user=user, connector=identity.connector)
    if not _link(user, identity, "new_account"):
        return None, {"create": _l("This national account is already linked to an account.")}
    return user, {}
