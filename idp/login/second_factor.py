"""The second step of signing in: a code from an authenticator app, an SMS code, or a recovery
code, after a right password (`begin`) or inside a live session that must rise to the hub's
MFA level (`begin_step_up`, no password asked again).

What is waiting lives in the interaction under "mfa": the user, the session being stepped up
(if any), the `amr` so far, the chosen method and the wrong tries of app and recovery codes.
Too many wrong codes end this attempt and count against the account like wrong passwords.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, request, url_for
from flask_babel import lazy_gettext as _l

from ..clock import now
from ..store import audit, db, users
from ..store.models import User
from . import assurance, factor_lock, interaction, new_password, otp, sessions, throttle, totp
from .account import ActionForm
from .flow import complete_step_up, load, page

bp = Blueprint("mfa", __name__)

METHODS = ("totp", "sms", "recovery")
# Vietnamese SMS text is sent without diacritics (the catalogue says so): brandname gateways
# bill Unicode messages at 70 characters a part instead of 160.
LOGIN_SMS = _l("Your sign-in code is {code}. It is valid for {minutes} minutes. Never share it.")
NO_SECOND_FACTOR = _l(
    "This service needs a second factor, but your account has no mobile number or "
    "authenticator app. Add a mobile number on your account page, or ask the one-stop counter."
)


def available(user: User) -> list[str]:
    """The ways this user can prove a second factor, the strongest first."""
    methods = []
    if totp.enrolment(user) is not None:
        methods.append("totp")
    if user.phone:
        methods.append("sms")
    if "totp" in methods and totp.remaining_recovery_codes(user) > 0:
        methods.append("recovery")
    return methods


def _sms_subject(user: User) -> str:
    return str(user.id)


def send_login_code(user: User) -> object | None:
    """Send a sign-in code by SMS; returns a message for the page when it was not sent."""
    return otp.send_or_explain(
        "login",
        _sms_subject(user),
        user.phone,
        LOGIN_SMS,
        user,
        _l("We could not send the SMS just now. Try again in a moment, or choose another way."),
    )


def _start(iid: str, ix: dict, user: User, amr: list[str], stepup_sid: str | None):  # noqa: ANN202
    methods = available(user)
    if not methods:
        audit.record("mfa_unavailable", user=user)
        raise interaction.InteractionExpired(NO_SECOND_FACTOR, status=403)
    method = methods[0]
    state = {"user_id": user.id, "amr": amr, "method": method, "failures": 0}
    if stepup_sid:
        state["stepup_sid"] = stepup_sid
    if method == "sms" and request.method == "POST":
        # Right after the password: send at once rather than ask for one more click.
        problem = send_login_code(user)
        if problem is not None:
            state["notice"] = str(problem)
    interaction.update(iid, ix, mfa=state)
    return redirect(url_for("mfa.second_factor", iid=iid))


def begin(iid: str, ix: dict, user: User, amr: list[str]):  # noqa: ANN201
    """The password was right; a second factor must follow before any session exists."""
    return _start(iid, ix, user, amr, None)


def begin_step_up(iid: str, ix: dict, session: sessions.SsoSession):  # noqa: ANN201
    """A live session must reach the MFA level for this request."""
    user = users.by_id(session.user_id)
    return _start(iid, ix, user, list(session.amr), session.sid)


def _check(method: str, user: User, code: str) -> tuple[bool, object | None, bool]:
    """(accepted, message, void): `void` means this attempt is over (SMS code locked)."""
    if method == "sms":
        result = otp.verify("login", _sms_subject(user), code, user=user)
        if result is otp.Result.OK:
            return True, None, False
        return (
            False,
            {
                otp.Result.WRONG: _l("The code is not right. Check the SMS and try again."),
                otp.Result.EXPIRED: _l("The code has expired or was not sent. Ask for a new one."),
                otp.Result.LOCKED: _l(
                    "Too many wrong codes: this code no longer works. Ask for a new one."
                ),
            }[result],
            result is otp.Result.LOCKED,
        )
    accepted = totp.verify(user, code) if method == "totp" else totp.use_recovery_code(user, code)
    message = (
        _l("The code is not right, or was already used. Enter the current code from the app.")
        if method == "totp"
        else _l("This recovery code is not right or was already used.")
    )
    return accepted, None if accepted else message, False


@bp.route("/interaction/<iid>/otp", methods=["GET", "POST"])
def second_factor(iid: str):  # noqa: ANN201
    ix, params, client = load(iid, allow_hub=True)
    state = ix.get("mfa")
    user = users.by_id(state["user_id"]) if state else None
    if state is None or user is None or not user.active:
        return redirect(url_for("login.login", iid=iid))
    if factor_lock.locked(user):
        raise interaction.InteractionExpired(factor_lock.LOCKED, status=403)
    session = None
    if state.get("stepup_sid"):
        session = sessions.current()
        if session is None or session.sid != state["stepup_sid"]:
            ix.pop("mfa", None)
            interaction.update(iid, ix)
            return redirect(url_for("login.login", iid=iid))
    methods = available(user)
    chosen = request.values.get("method") or state["method"]
    method = chosen if chosen in methods else state["method"]
    if method not in methods:
        raise interaction.InteractionExpired(NO_SECOND_FACTOR, status=403)
    form = ActionForm()
    message = state.pop("notice", None)
    notice = None
    tries_left = None
    if message is not None:
        interaction.update(iid, ix)
    if request.method == "POST":
        if not form.validate_on_submit():
            raise interaction.InteractionExpired(status=400)
        action = request.form.get("action")
        if action == "send" and method == "sms":
            message = send_login_code(user)
            notice = None if message else _l("A new code was sent.")
        elif action == "verify":
            code = request.form.get("code", "")[:64]
            accepted, message, void = _check(method, user, code)
            if accepted:
                return _finish(iid, ix, client, user, session, state, method)
            if factor_lock.record_wrong(user):
                raise interaction.InteractionExpired(factor_lock.LOCKED, status=403)
            if method != "sms":
                state["failures"] += 1
                void = state["failures"] >= current_app.config["IDP"].otp.max_tries
                if void:
                    audit.record("otp_locked", user=user, purpose=method)
            if void:
                until = throttle.record_failure(request.remote_addr, user.username)
                if method != "sms":
                    # App and recovery codes: this sign-in is over; start again with the password.
                    ix.pop("mfa", None)
                    interaction.update(iid, ix)
                    if session is None:
                        return redirect(url_for("login.login", iid=iid, reason="otp"))
                    raise interaction.InteractionExpired(
                        _l("Too many wrong codes. Please go back to the service and start again."),
                        status=400,
                    )
                if until:
                    message = _l("Too many wrong codes. Sign-in is locked for a while.")
            elif method == "sms":
                tries_left = otp.tries_left("login", _sms_subject(user))
            else:
                tries_left = current_app.config["IDP"].otp.max_tries - state["failures"]
            interaction.update(iid, ix, mfa=state)
    status = 400 if message else 200
    return page(
        "login/second_factor.html",
        params,
        status,
        form=form,
        iid=iid,
        client=client,
        user=user,
        method=method,
        methods=methods,
        message=message,
        tries_left=tries_left,
        notice=notice,
        sms=_sms_view(user) if method == "sms" else None,
        step_up=session is not None,
    )


def _sms_view(user: User) -> dict:
    pending = otp.pending("login", _sms_subject(user))
    at = now()
    return {
        "masked": otp.mask(user.phone or ""),
        "sent": bool(pending and pending["expires_at"] > at),
        "expires_in": max(0, pending["expires_at"] - at) if pending else 0,
        "resend_in": otp.resend_wait(user.phone or ""),
    }


def _finish(iid, ix, client, user, session, state, method):  # noqa: ANN001, ANN202
    cfg = current_app.config["IDP"].login
    if method == "sms" and not user.phone_verified:
        user.phone_verified = True  # the code reached this number: it is the user's
        db.session.commit()
    amr = assurance.amr_for(method, state.get("amr") or ["pwd"])
    label = {"sms": "password+sms", "totp": "password+totp", "recovery": "password+recovery"}
    if session is not None:
        return complete_step_up(
            iid, ix, client, user, session, amr, cfg.mfa_acr, method, factor=method
        )
    return new_password.complete(
        iid, ix, client, user, amr, cfg.mfa_acr, label[method], factor=method
    )
