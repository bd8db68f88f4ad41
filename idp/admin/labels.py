"""Audit events, their details and account states in the console's language.

The audit log stores codes (`login_stepped_up`, `{"method": "sms"}`): stable for the CSV export
and the API. The console pages show them in words; a code without a label (an event added
later) is still shown readably, as words, with its code beside it for searching.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

EVENTS = {
    "activation_resent": _l("Activation email sent again"),
    "backchannel_logout": _l("Client system told of a logout"),
    "client_created": _l("Client system registered"),
    "client_credentials_token": _l("Token issued to a client system"),
    "client_deleted": _l("Client system deleted"),
    "client_disabled": _l("Client system disabled"),
    "client_enabled": _l("Client system enabled"),
    "client_logo_removed": _l("Client system logo removed"),
    "client_logo_set": _l("Client system logo set"),
    "client_registered": _l("Client system registered itself"),
    "client_secret_rotated": _l("Client secret replaced"),
    "client_updated": _l("Client system changed"),
    "code_replay": _l("Authorization code used twice"),
    "code_session_ended": _l("Code refused: the session had ended"),
    "consent_denied": _l("Consent refused"),
    "consent_granted": _l("Consent given"),
    "email_change_requested": _l("Email change asked for"),
    "email_changed": _l("Email changed"),
    "federated_link_created": _l("National account linked"),
    "federated_link_refused": _l("National account link refused"),
    "federated_link_removed": _l("National account link removed"),
    "interaction_foreign_browser": _l("Sign-in step from another browser"),
    "login_failure": _l("Failed sign-in"),
    "login_locked": _l("Sign-in locked after failures"),
    "login_refused": _l("Sign-in refused"),
    "login_stepped_up": _l("Second proof of identity given"),
    "login_success": _l("Signed in"),
    "login_throttled": _l("Sign-in attempt while locked"),
    "logout": _l("Signed out"),
    "mail_request_limited": _l("Mail request over the limit"),
    "mfa_unavailable": _l("No second factor available"),
    "national_login_failed": _l("National sign-in failed"),
    "otp_expired": _l("One-time code expired"),
    "otp_failed": _l("Wrong one-time code"),
    "otp_limited": _l("One-time code over the limit"),
    "otp_locked": _l("One-time code locked after wrong tries"),
    "otp_reused": _l("One-time code used again"),
    "otp_send_failed": _l("One-time code could not be sent"),
    "otp_sent": _l("One-time code sent"),
    "otp_verified": _l("One-time code accepted"),
    "password_changed": _l("Password changed"),
    "password_reset": _l("Password reset"),
    "password_reset_mail_failed": _l("Password reset mail could not be sent"),
    "password_reset_requested": _l("Password reset asked for"),
    "password_reset_unknown": _l("Password reset asked for an unknown account"),
    "profile_updated": _l("Profile changed"),
    "recovery_code_used": _l("Recovery code used"),
    "recovery_codes_renewed": _l("Recovery codes renewed"),
    "refresh_retry": _l("Refresh token retried"),
    "refresh_reuse": _l("Refresh token used twice"),
    "registration_limited": _l("Registration over the limit"),
    "role_granted": _l("Role given"),
    "second_factor_locked": _l("Second factor locked"),
    "second_factor_unlocked": _l("Second factor unlocked"),
    "second_factor_vouched": _l("Second factor vouched for"),
    "security_notice": _l("Security notice sent"),
    "security_notice_failed": _l("Security notice could not be sent"),
    "step_up_required": _l("Second proof of identity asked for"),
    "token_revoked": _l("Token revoked"),
    "totp_disabled": _l("Authenticator app removed"),
    "totp_enrol_failed": _l("Authenticator app set-up failed"),
    "totp_enrolled": _l("Authenticator app set up"),
    "totp_secret_unreadable": _l("Authenticator app secret unreadable"),
    "upstream_logout": _l("Signed out at the national portal"),
    "upstream_logout_refused": _l("National portal logout refused"),
    "user_activated": _l("Account activated"),
    "user_created": _l("Account created"),
    "user_created_from_national": _l("Account created from a national account"),
    "user_locked": _l("Account locked"),
    "user_registered": _l("Account registered"),
    "user_sessions_ended": _l("Every session of the account ended"),
    "user_unlocked": _l("Account unlocked"),
}

DETAIL_KEYS = {
    "acr": _l("level"),
    "by": _l("by"),
    "connector": _l("connector"),
    "emails": _l("emails"),
    "fields": _l("fields"),
    "how": _l("how"),
    "kind": _l("kind"),
    "level": _l("level"),
    "locked": _l("locked"),
    "method": _l("method"),
    "page": _l("page"),
    "path": _l("page"),
    "phone": _l("phone"),
    "purpose": _l("purpose"),
    "reason": _l("reason"),
    "scope": _l("scope"),
    "sms": _l("SMS"),
    "step": _l("step"),
    "tries": _l("tries"),
    "until": _l("until"),
}

VALUES = {
    "password": _l("password"),
    "sms": _l("SMS code"),
    "totp": _l("authenticator app"),
    "recovery": _l("recovery code"),
    "password+sms": _l("password and SMS code"),
    "password+totp": _l("password and authenticator app"),
    "password+recovery": _l("password and recovery code"),
    "login": _l("sign-in"),
    "locked": _l("locked"),
    "not_activated": _l("not activated"),
    "national_only": _l("national account only"),
    "admin": _l("administrator"),
    "cli": _l("command line"),
}

STATES = {
    "active": _l("active"),
    "locked": _l("locked"),
    "pending": _l("waiting for activation"),
}

ACCOUNT_TYPES = {
    "citizen": _l("citizen"),
    "organization": _l("business or organisation"),
}


def event_label(code: str) -> str:
    label = EVENTS.get(code)
    return str(label) if label is not None else code.replace("_", " ").capitalize()


def _value(key: str, value: object) -> str:
    from ..display import moment

    if isinstance(value, list):
        return ", ".join(_value(key, v) for v in value)
    if key == "until" and isinstance(value, int | float):
        return moment(value)
    if isinstance(value, bool):
        return "✓" if value else "✗"
    text = str(value)
    label = VALUES.get(text)
    return str(label) if label is not None else text


def detail_items(detail: dict | None) -> list[tuple[str, str]]:
    """An event's detail as (label, value) pairs, in the order it was recorded."""
    if not detail:
        return []
    return [
        (str(DETAIL_KEYS.get(key, key.replace("_", " "))), _value(key, value))
        for key, value in detail.items()
    ]


def state_label(code: str) -> str:
    label = STATES.get(code)
    return str(label) if label is not None else code


def account_type_label(code: str | None) -> str:
    label = ACCOUNT_TYPES.get(code or "")
    return str(label) if label is not None else (code or "")


def init_app(app: Flask) -> None:
    app.add_template_filter(event_label, "event_label")
    app.add_template_filter(detail_items, "detail_items")
    app.add_template_filter(state_label, "state_label")
    app.add_template_filter(account_type_label, "account_type_label")
