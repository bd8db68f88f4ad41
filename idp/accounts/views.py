"""Registration, activation and "resend activation" pages."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

from .. import background
from ..login import otp, step_up, way_back
from ..login.account import signed_in
from . import divisions, limits, recovery, registration
from . import phone as phone_service
from . import profile as profile_service

bp = Blueprint("accounts", __name__)

CITIZEN_FIELDS = (
    "full_name",
    "birthdate",
    "sex",
    "national_id",
    "username",
    "phone",
    "email",
    "address",
    "password",
    "password_confirm",
)
ORGANIZATION_FIELDS = (
    "business_name",
    "tax_code",
    "province_code",
    "ward_code",
    "street",
    "contact_name",
    "username",
    "phone",
    "email",
    "password",
    "password_confirm",
)
SECRET_FIELDS = ("password", "password_confirm")


class CsrfForm(FlaskForm):
    """Only the CSRF token; the fields are checked by idp.accounts.validators."""


def _typed(names: tuple[str, ...]) -> dict[str, str]:
    """What the person typed, kept for the page again (never the passwords)."""
    return {n: request.form.get(n, "")[:300] for n in names if n not in SECRET_FIELDS}


def _way_from_sign_in() -> way_back.WayBack | None:
    """The sign-in this page was opened from (`?ix=`, this browser's own), remembered so that
    the activation or reset page can lead back to it."""
    return way_back.remember(request.args.get("ix"))


def _registration_page(kind: str, names: tuple[str, ...], register):  # noqa: ANN001, ANN202
    if not current_app.config["IDP"].accounts.registration_open:
        abort(404)
    form = CsrfForm()
    way = _way_from_sign_in()
    outcome = None
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        outcome = register({n: request.form.get(n, "") for n in names})
        if outcome.user is not None:
            return render_template(
                "accounts/registered.html", user=outcome.user, way=way, **_phone_form(outcome)
            )
    errors = outcome.errors if outcome else {}
    status = 400 if outcome and (errors or outcome.mail_failed) else 200
    if outcome and outcome.limited:
        status = 429
    return render_template(
        f"accounts/register_{kind}.html",
        form=form,
        values=_typed(names),
        errors=errors,
        mail_failed=bool(outcome and outcome.mail_failed),
        limited=bool(outcome and outcome.limited),
        way=way,
        provinces=[(p.code, p.label) for p in divisions.provinces()],
        wards=[(w.code, w.name) for w in divisions.wards(request.form.get("province_code", ""))],
    ), status


@bp.route("/register", methods=["GET", "POST"])
def register_citizen():  # noqa: ANN201
    return _registration_page("citizen", CITIZEN_FIELDS, registration.register_citizen)


@bp.route("/register/business", methods=["GET", "POST"])
def register_organization():  # noqa: ANN201
    return _registration_page(
        "organization", ORGANIZATION_FIELDS, registration.register_organization
    )


def _phone_form(outcome: registration.Outcome) -> dict:
    """What the "registered" page needs to take the SMS code at once."""
    user = outcome.user
    return {
        "form": CsrfForm(),
        "phone_action": url_for("accounts.registration_phone", token=outcome.phone_token),
        "masked": otp.mask(user.phone or ""),
        "sms_problem": outcome.sms_problem,
        "resend_in": otp.resend_wait(user.phone or ""),
    }


@bp.route("/register/phone/<token>", methods=["GET", "POST"])
def registration_phone(token: str):  # noqa: ANN201
    """Prove the mobile number of a just-registered account (activation is by email)."""
    user = phone_service.by_registration_token(token)
    if user is None or not user.phone:
        message = _l("This link is not valid or has expired.")
        return render_template("errors/page.html", message=message, status=400), 400
    if user.phone_verified:
        return render_template("accounts/phone_confirmed.html", user=user)
    form = CsrfForm()
    message = notice = None
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        proved, message, notice = phone_service.answer(user, user.phone, request.form)
        if proved:
            return render_template("accounts/phone_confirmed.html", user=user)
    return render_template(
        "account/verify_phone.html",
        form=form,
        action=url_for("accounts.registration_phone", token=token),
        message=message,
        notice=notice,
        **phone_service.page_context(user, user.phone),
    ), (400 if message else 200)


@bp.route("/activate/<token>")
def activate(token: str):  # noqa: ANN201
    user, problem = registration.activate(token)
    if user is None:
        return render_template("errors/page.html", message=problem, status=400), 400
    return render_template("accounts/activated.html", user=user, way=way_back.find())


def _ask_for_link(kind, title, sent_message, send):  # noqa: ANN001, ANN202
    """A form that takes a username or email and answers the same whether it matched: the
    look-up and the mail happen in the background queue, after the answer, within limits."""
    form = CsrfForm()
    way = _way_from_sign_in()
    sent = False
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        identifier = request.form.get("identifier", "")[:254]
        if limits.mail_request_allowed(kind, identifier):
            background.submit(send, identifier)
        sent = True
    return render_template(
        "accounts/ask_link.html", form=form, sent=sent, title=title, message=sent_message, way=way
    )


@bp.route("/activate/resend", methods=["GET", "POST"])
def resend_activation():  # noqa: ANN201
    return _ask_for_link(
        "activation",
        _l("Resend the activation email"),
        _l(
            "If a pending account matches, a new activation link is on its way. Check your mailbox."
        ),
        registration.resend_activation,
    )


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():  # noqa: ANN201
    return _ask_for_link(
        "reset",
        _l("Forgot your password?"),
        _l(
            "If an account matches, we sent a link to choose a new password to its email "
            "address. Check your mailbox."
        ),
        recovery.request_reset,
    )


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):  # noqa: ANN201
    form = CsrfForm()
    user = recovery.peek_reset(token)
    errors: dict = {}
    if user is None:
        errors["token"] = _l("This link is not valid, was already used, or has expired.")
    elif request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        done, errors = recovery.complete_reset(
            token, request.form.get("password", ""), request.form.get("password_confirm", "")
        )
        if done is not None:
            return render_template("accounts/password_changed.html", user=done, way=way_back.find())
    status = 400 if errors else 200
    return render_template(
        "accounts/reset.html", form=form, errors=errors, user=user, values={}
    ), status


@bp.route("/email/confirm/<token>")
def confirm_email(token: str):  # noqa: ANN201
    user = recovery.confirm_email(token)
    if user is None:
        message = _l("This link is not valid, was already used, or has expired.")
        return render_template("errors/page.html", message=message, status=400), 400
    return render_template("accounts/email_confirmed.html", user=user)


PROFILE_FIELDS = ("full_name", "address", "email", "phone")


@bp.route("/account/profile", methods=["GET", "POST"])
@signed_in
def profile(session, user):  # noqa: ANN001, ANN201
    form = CsrfForm()
    errors: dict = {}
    notice = None
    values = {
        "full_name": user.full_name or "",
        "address": user.address or "",
        "email": user.email or "",
        "phone": user.phone or "",
    }
    if request.method == "POST":
        values = _typed(PROFILE_FIELDS)
        outcome = profile_service.update(user, request.form, session)
        if outcome.phone_pending:
            return redirect(url_for("authenticators.verify_phone"))
        errors, notice = outcome.errors, outcome.notice
    status = 400 if errors else 200
    return render_template(
        "accounts/profile.html",
        form=form,
        user=user,
        values=values,
        errors=errors,
        notice=notice,
        step_up=step_up.needed(session, user),
    ), status


@bp.route("/account/password", methods=["GET", "POST"])
@signed_in
@step_up.required("/account/password")
def change_password(session, user):  # noqa: ANN001, ANN201
    form = CsrfForm()
    errors: dict = {}
    if request.method == "POST":
        errors = profile_service.change_password(
            user,
            session,
            request.form.get("current_password", ""),
            request.form.get("password", ""),
            request.form.get("password_confirm", ""),
        )
        if not errors:
            return render_template("accounts/password_changed.html", user=user)
    status = 400 if errors else 200
    return render_template(
        "accounts/change_password.html",
        form=form,
        errors=errors,
        values={},
        first=user.password_hash is None,
    ), status


@bp.route("/staff/register", methods=["GET", "POST"])
@signed_in
def staff_register(session, user):  # noqa: ANN001, ANN201
    if not {"staff", "admin"} & set(user.roles or []):
        abort(403)
    refused = step_up.console_gate(session, user)
    if refused is not None:
        return refused
    form = CsrfForm()
    outcome = None
    names = tuple(n for n in CITIZEN_FIELDS if n not in SECRET_FIELDS)
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        outcome = registration.register_citizen(
            {n: request.form.get(n, "") for n in names}, staff=user
        )
        if outcome.user is not None:
            return render_template(
                "accounts/staff_registered.html", citizen=outcome.user, **_phone_form(outcome)
            )
    errors = outcome.errors if outcome else {}
    status = 400 if outcome and (errors or outcome.mail_failed) else 200
    return render_template(
        "accounts/staff_register.html",
        form=form,
        values=_typed(names),
        errors=errors,
        mail_failed=bool(outcome and outcome.mail_failed),
        staff=user,
    ), status
