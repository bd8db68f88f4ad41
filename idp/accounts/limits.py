"""Limits on the pages that send mail to an address someone types: forgot password, resend
activation, registration. Counted per address (or username), per identity number and per
client IP in the short-lived store, whether or not an account matches, so the count itself
says nothing. Past a limit the page gives the same answer and nothing is sent.
"""

from __future__ import annotations

from flask import current_app, request

from ..store import audit, kv

DAY = 24 * 3600
HOUR = 3600


def _over(key: str, limit: int, window: int) -> bool:
    return kv().incr(key, window) > limit


def _address(value: str) -> str:
    return (value or "").strip().casefold()[:254]


def mail_request_allowed(kind: str, identifier: str) -> bool:
    """One forgot-password or resend-activation request: counted, then allowed or not."""
    cfg = current_app.config["IDP"].accounts
    over_ip = _over(f"limit-ip-hour:{request.remote_addr}", cfg.requests_per_ip_hour, HOUR)
    over_address = _over(
        f"limit-mail-day:{_address(identifier)}", cfg.mail_requests_per_address_day, DAY
    )
    if over_ip or over_address:
        audit.record("mail_request_limited", kind=kind, by="ip" if over_ip else "address")
        return False
    return True


def registration_allowed(number: str | None, email: str | None) -> bool:
    """One registration attempt with this identity number (or tax code) and email."""
    cfg = current_app.config["IDP"].accounts
    checks = [
        ("ip", f"limit-ip-hour:{request.remote_addr}", cfg.requests_per_ip_hour, HOUR),
    ]
    if number:
        checks.append(
            ("number", f"limit-reg-number:{number}", cfg.registrations_per_national_id_day, DAY)
        )
    if email:
        checks.append(
            ("email", f"limit-reg-email:{_address(email)}", cfg.registrations_per_email_day, DAY)
        )
    over = [name for name, key, limit, window in checks if _over(key, limit, window)]
    if over:
        audit.record("registration_limited", by=over[0])
        return False
    return True
