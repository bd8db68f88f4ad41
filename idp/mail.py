"""Outgoing mail: SMTP as configured, or a dev outbox folder when no server is set.

Every message has a Vietnamese and an English template (`templates/mail/<name>.<lang>.txt`,
first line `Subject: …`) and is sent in the recipient's language.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import time
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from flask import current_app, render_template

from .files import private_dir, write_private

log = logging.getLogger(__name__)


class MailError(RuntimeError):
    """The message could not be handed to the mail server."""


def render(template: str, lang: str, **context) -> tuple[str, str]:
    text = render_template(
        f"mail/{template}.{lang if lang in ('vi', 'en') else 'vi'}.txt", **context
    )
    first, _, body = text.partition("\n")
    if not first.startswith("Subject:"):
        raise ValueError(f"mail template {template} must start with 'Subject:'")
    return first[len("Subject:") :].strip(), body.lstrip("\n")


def send(to: str, template: str, lang: str, **context) -> None:
    """Send one message; raises MailError when the server refuses or cannot be reached."""
    config = current_app.config["IDP"]
    cfg = config.mail
    subject, body = render(template, lang, **context)
    message = EmailMessage()
    message["From"] = cfg.sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="idp.local")
    message.set_content(body)
    if not cfg.smtp_host:
        outbox = private_dir(config.resolved_outbox_dir)
        path = outbox / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
        write_private(path, bytes(message))
        log.warning("no SMTP server configured: mail to %s written to %s", to, path)
        return
    password = os.environ.get(cfg.password_env, "")
    try:
        if cfg.security == "ssl":
            server = smtplib.SMTP_SSL(
                cfg.smtp_host,
                cfg.smtp_port,
                timeout=cfg.timeout,
                context=ssl.create_default_context(),
            )
        else:
            server = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout)
        with server:
            if cfg.security == "starttls":
                server.starttls(context=ssl.create_default_context())
            if cfg.username:
                server.login(cfg.username, password)
            server.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.error("sending mail to %s through %s failed: %s", to, cfg.smtp_host, exc)
        raise MailError(str(exc)) from exc


def send_to_user(user, template: str, **context) -> None:  # noqa: ANN001
    """Send to an account's email address, in the language of the current page."""
    from flask_babel import get_locale

    send(
        user.email,
        template,
        str(get_locale() or "vi"),
        name=user.full_name or user.username,
        username=user.username,
        **context,
    )
