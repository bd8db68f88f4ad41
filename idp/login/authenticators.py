"""The citizen's second factors on their account page: the authenticator app (enrol with a QR
code, recovery codes shown once, disable or renew with a fresh code) and the mobile number
that receives codes (proved by SMS before it is used). Every change here first needs the
account's existing second factor, recently (idp.login.step_up), and the owner is told."""

from __future__ import annotations

import segno
from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from ..accounts import notices
from ..accounts import phone as phone_service
from . import interaction, second_factor, step_up, totp
from .account import ActionForm, signed_in
from .views import safe_return_path

bp = Blueprint("authenticators", __name__, url_prefix="/account")


def qr_svg(uri: str) -> Markup:
    """The otpauth:// URI as an inline SVG QR code (served by the hub, no script needed)."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=2, dark="#000", light="#fff")
    return Markup(svg)  # noqa: S704 - made by segno from our own URI


def _security_page(user, error=None):  # noqa: ANN001, ANN202
    enrolled = totp.enrolment(user)
    return render_template(
        "account/security.html",
        user=user,
        enrolled=enrolled,
        recovery_left=totp.remaining_recovery_codes(user) if enrolled else 0,
        pending_phone=phone_service.pending_number(user),
        form=ActionForm(),
        error=error,
    ), (400 if error else 200)


@bp.route("/security")
@signed_in
def overview(session, user):  # noqa: ANN001, ANN201
    return _security_page(user)


@bp.route("/security/confirm")
@signed_in
def confirm_it_is_you(session, user):  # noqa: ANN001, ANN201
    """Step up the current session with a second factor, then go back to a hub page."""
    return_to = safe_return_path(request.args.get("next"), "/account/security")
    iid = interaction.create_for_hub(return_to)
    response = second_factor.begin_step_up(iid, interaction.load(iid), session)
    method = request.args.get("method")
    if method in second_factor.METHODS and response.status_code in (302, 303):
        # The console asks for a vouched factor: offer that one first.
        response.location = url_for("mfa.second_factor", iid=iid, method=method)
    return response


@bp.route("/security/app", methods=["GET", "POST"])
@signed_in
@step_up.required("/account/security/app")
def enrol_app(session, user):  # noqa: ANN001, ANN201
    if totp.enrolment(user) is not None:
        return redirect(url_for("authenticators.overview"))
    form = ActionForm()
    error = None
    if request.method == "POST":
        # Vouched when the session had passed another factor: the app may then open the console.
        vouched = step_up.recent(session)
        codes = totp.confirm(user, request.form.get("code", "")[:64], vouched=vouched)
        if codes is not None:
            notices.security_change(user, "factor_added")
            return render_template("account/recovery_codes.html", user=user, codes=codes)
        error = _l(
            "The code is not right. Check that the app shows this account, and that your "
            "phone's clock is set automatically."
        )
    secret, uri = totp.start(user)
    return render_template(
        "account/enrol_app.html",
        user=user,
        form=form,
        secret=secret,
        qr=qr_svg(uri),
        error=error,
    ), (400 if error else 200)


@bp.route("/security/app/disable", methods=["POST"])
@signed_in
@step_up.required("/account/security")
def disable_app(session, user):  # noqa: ANN001, ANN201
    if totp.disable(user, request.form.get("code", "")[:64]):
        notices.security_change(user, "factor_removed")
        return redirect(url_for("authenticators.overview"))
    return _security_page(user, _l("The code is not right. Enter the current code from the app."))


@bp.route("/security/recovery-codes", methods=["POST"])
@signed_in
@step_up.required("/account/security")
def renew_recovery_codes(session, user):  # noqa: ANN001, ANN201
    codes = totp.renew_recovery_codes(user, request.form.get("code", "")[:64])
    if codes is None:
        return _security_page(
            user, _l("The code is not right. Enter the current code from the app.")
        )
    notices.security_change(user, "recovery_codes")
    return render_template("account/recovery_codes.html", user=user, codes=codes)


@bp.route("/phone", methods=["GET", "POST"])
@signed_in
@step_up.required("/account/phone")
def verify_phone(session, user):  # noqa: ANN001, ANN201
    """Prove the number waiting for proof (a changed one, or the account's own unproved one)."""
    number = phone_service.number_to_prove(user)
    if number is None:
        return redirect(url_for("authenticators.overview"))
    message = notice = None
    if request.method == "POST":
        old = user.phone if user.phone_verified else None
        vouched = step_up.recent(session)
        proved, message, notice = phone_service.answer(user, number, request.form, vouched)
        if proved:
            if old and old != number:
                notices.security_change(user, "phone_changed", old_phone=old)
            else:  # the account's first proved number: a new second factor
                notices.security_change(user, "factor_added")
            return redirect(url_for("authenticators.overview", done="phone"))
    return render_template(
        "account/verify_phone.html",
        form=ActionForm(),
        message=message,
        notice=notice,
        **phone_service.page_context(user, number),
    ), (400 if message else 200)
