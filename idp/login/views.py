"""The user surface of an authorization request: sign-in, consent, cancel.

A plain HTML form (username, password, submit) so any browser and simple scripts can drive it.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from ..accounts.passwords import check_password, upgrade_stored_hash
from ..broker import policy
from ..display import clock_time
from ..store import audit, consents, users
from . import assurance, interaction, new_password, second_factor, sessions, step_up, throttle
from .flow import client_id_of as _client_id
from .flow import load as _load
from .flow import page as _page

bp = Blueprint("login", __name__)

SCOPE_DESCRIPTIONS = {
    "openid": _l("Know who you are (an identifier for your account)"),
    "profile": _l("Your name, date of birth and username"),
    "email": _l("Your email address"),
    "phone": _l("Your mobile number"),
    "address": _l("Your address"),
    "national_id": _l("Your identity number (CCCD/CMND)"),
    "tax_code": _l("Your organisation's tax code"),
}


NATIONAL_FAILED = _l(
    "Signing in through %(portal)s did not succeed. Please try again, or sign in another way."
)
NATIONAL_ONLY = _l(
    "Citizens, businesses and organisations now sign in to public services with their "
    "national account (VNeID), as Decree 69/2024/NĐ-CP (Article 40) requires. Use the "
    "national account button above: the first time, your account here is linked to it with "
    "your identity number and this password."
)
NATIONAL_ONLY_OTHERS = _l(
    "Staff of the province, and accounts that still sign in here: the username or the "
    "password is not right."
)
# Why the sign-in page was shown again (?reason=, with ?via= naming the connector), as a
# message for the person; %(portal)s is the connector's own label, %(level)s the level needed.
REASONS = {
    "otp": _l("Too many wrong codes. Please sign in again."),
    "national_cancelled": _l("You cancelled signing in at %(portal)s."),
    "national_unreachable": _l(
        "%(portal)s did not answer. Please try again in a few minutes, or sign in another way."
    ),
    "national_locked": _l("This account is locked. Please contact the one-stop counter."),
    "national_level": _l(
        "This service needs a verified national identity (level %(level)s). Please sign in "
        "with your national account."
    ),
    "national_level_not_reached": _l(
        "%(portal)s did not confirm your identity at the level this service needs (%(level)s). "
        "If your electronic identity is at a lower level, raise it (for VNeID: level 2) and try "
        "again, or sign in with another national account."
    ),
    "national_error_answer": NATIONAL_FAILED,
    "national_bad_answer": NATIONAL_FAILED,
    "national_bad_token": NATIONAL_FAILED,
    "national_bad_state": NATIONAL_FAILED,
}


def _reason(name: str, params: dict, client, via: str | None = None) -> str:  # noqa: ANN001
    """A REASONS message with the connector's label and the level this request needs."""
    from ..broker.labels import label

    needed = assurance.required_level(params, client, None) if client is not None else None
    return str(REASONS[name]) % {"portal": label(via), "level": needed or "2"}


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


class ConsentForm(FlaskForm):
    decision = HiddenField()


def _locked_message(until: int):  # noqa: ANN202
    when = clock_time(until)
    return _l(
        "Too many failed sign-in attempts. Signing in is locked until %(time)s; try again "
        "then, or reset your password.",
        time=when,
    )


@bp.route("/interaction/<iid>/login", methods=["GET", "POST"])
def login(iid: str):  # noqa: ANN201
    from flask import request

    ix, params, client = _load(iid, allow_hub=True)
    form = LoginForm()
    error = None
    tries_left = None
    if request.method == "GET" and params.get("login_hint"):
        form.username.data = params["login_hint"][:64]
    if request.method == "GET" and request.args.get("reason") in REASONS:
        error = _reason(request.args["reason"], params, client, request.args.get("via"))
    if form.validate_on_submit():
        typed = form.username.data.strip()
        user = users.by_username(typed)
        # An alias of a merged account counts against the account: more names, no more tries.
        username = user.username if user is not None else typed
        until = throttle.locked_until(request.remote_addr, username)
        if until:
            error = _locked_message(until)
            audit.record("login_throttled", username=username[:64], client_id=_client_id(client))
        else:
            check = check_password(user.password_hash if user else None, form.password.data)
            password_ok = check.ok
            required = assurance.required_level(params, client, user)
            needs_national = assurance.only_national_reaches(required)
            closed = user is not None and policy.password_closed_for(user)
            if needs_national or closed:
                # No password signs in here: right or wrong, the same answer and the same
                # count, so the page is no oracle for a guessed password.
                until = throttle.record_failure(request.remote_addr, username)
                audit.record(
                    "login_refused" if password_ok else "login_failure",
                    user=user,
                    username=username[:64],
                    client_id=_client_id(client),
                    method="password",
                    reason="level" if needs_national else "national_only",
                )
                error = (
                    _locked_message(until)
                    if until
                    else _reason("national_level", params, client)
                    if needs_national
                    else _national_only_refusal()
                )
                if not until:
                    tries_left = throttle.tries_left(request.remote_addr, username)
            elif password_ok and user is not None and not user.active:
                # The right password: saying why does not help a guesser.
                pending = user.activated_at is None
                error = (
                    _l(
                        "This account is not activated yet. Open the link in the email we "
                        "sent, or ask for a new one below."
                    )
                    if pending
                    else _l("This account is locked. Please contact the one-stop counter.")
                )
                audit.record(
                    "login_refused",
                    user=user,
                    client_id=_client_id(client),
                    reason="not_activated" if pending else "locked",
                )
            elif password_ok and user is not None:
                # Rehashed only here, where the sign-in goes on: a refusal above takes the
                # same time whether the password was right.
                upgrade_stored_hash(user, form.password.data, check)
                # A password to replace is a security change: the account's second factor
                # comes first, as it would on the account page.
                replacing = user.password_change_required and step_up.has_second_factor(user)
                if replacing or assurance.second_factor_at_login(user, required):
                    return second_factor.begin(iid, ix, user, ["pwd"])
                cfg = current_app.config["IDP"]
                return new_password.complete(
                    iid, ix, client, user, ["pwd"], cfg.login.password_acr, "password"
                )
            else:
                until = throttle.record_failure(request.remote_addr, username)
                audit.record(
                    "login_failure",
                    user=user,
                    username=username[:64],
                    client_id=_client_id(client),
                    method="password",
                )
                error = (
                    _locked_message(until)
                    if until
                    else _national_only_refusal()
                    if policy.national_only("citizen") or policy.national_only("organization")
                    else _l("Wrong username or password.")
                )
                if not until:
                    tries_left = throttle.tries_left(request.remote_addr, username)
    elif request.method == "POST":
        error = _l("Please enter your username and password.")
    form.password.data = ""
    status = 200 if error is None else 400
    return _page(
        "login/login.html",
        params,
        status,
        form=form,
        client=client,
        iid=iid,
        error=error,
        tries_left=tries_left,
        connectors=_connector_buttons(),
        national_only=[t for t in ("citizen", "organization") if policy.national_only(t)],
    )


def _national_only_refusal() -> str:
    """In national-only mode, one answer for every refused password: a closed account's (right
    or wrong), an unknown name's and a staff member's wrong one, so the form tells a guesser
    neither whether an account exists nor which accounts are staff."""
    return f"{NATIONAL_ONLY} {NATIONAL_ONLY_OTHERS}"


def _connector_buttons() -> list[dict]:
    """One button per national connector, labelled in the page's language; one whose upstream
    is failing or misconfigured is shown as unavailable instead of sending browsers there."""
    from flask_babel import get_locale

    from ..broker import health

    english = str(get_locale()) == "en"
    return [
        {
            "name": name,
            "label": (c.label_en if english and c.label_en else c.label_vi),
            "icon": c.icon,
            "unavailable": health.unavailable(name) is not None,
        }
        for name, c in current_app.config["IDP"].connectors.items()
    ]


@bp.route("/interaction/<iid>/consent", methods=["GET", "POST"])
def consent(iid: str):  # noqa: ANN201
    from flask import request

    ix, params, client = _load(iid)
    session = sessions.current()
    if session is None:
        return redirect(url_for("login.login", iid=iid))
    user = users.by_id(session.user_id)
    scope = client.get_allowed_scope(params.get("scope"))
    form = ConsentForm()
    if form.validate_on_submit():
        if request.form.get("decision") == "allow":
            consents.grant(user.id, client.client_id, scope)
            interaction.update(iid, ix, consent_given=True)
            audit.record("consent_granted", user=user, client_id=client.client_id, scope=scope)
            return redirect(url_for("oidc.resume", iid=iid))
        interaction.update(iid, ix, denied="The user denied the request.")
        audit.record("consent_denied", user=user, client_id=client.client_id, scope=scope)
        return redirect(url_for("oidc.resume", iid=iid))
    scopes = [s for s in SCOPE_DESCRIPTIONS if s in scope.split()]
    return _page(
        "login/consent.html",
        params,
        form=form,
        client=client,
        iid=iid,
        user=user,
        scopes=[(s, SCOPE_DESCRIPTIONS[s]) for s in scopes],
    )


@bp.route("/interaction/<iid>/abort", methods=["POST"])
def abort(iid: str):  # noqa: ANN201
    ix, _, _ = _load(iid)
    interaction.update(iid, ix, denied="The user cancelled the sign-in.")
    return redirect(url_for("oidc.resume", iid=iid))


def safe_return_path(value: str | None, default: str = "/account") -> str:
    """Only paths of this hub: never another host, never a scheme, never '//host'."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 32 for c in value)
        or len(value) > 200
    ):
        return default
    return value


@bp.route("/login")
def hub_login():  # noqa: ANN201
    """Sign in to the hub's own pages (the account), not to a client system."""
    from flask import request

    return_to = safe_return_path(request.args.get("next"))
    if sessions.current() is not None:
        return redirect(return_to)
    iid = interaction.create_for_hub(return_to)
    return redirect(url_for("login.login", iid=iid))
