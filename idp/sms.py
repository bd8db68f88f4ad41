"""Text messages behind one small interface: a dev outbox folder, or an HTTP SMS gateway.

The `http` gateway posts JSON or a form to the configured URL with an API key from the
environment, retries network errors and 5xx answers, and checks the provider's answer; any
failure raises `SmsError`, so a page never tells a person a code was sent when it was not.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from typing import Protocol

import requests
from flask import current_app

from .config import Config
from .files import private_dir, write_private

log = logging.getLogger(__name__)


class SmsError(RuntimeError):
    """The message was not accepted for delivery."""


class Gateway(Protocol):
    def send(self, phone: str, text: str) -> None: ...


class OutboxGateway:
    """Development: one JSON file per message, and a log line that says where."""

    def __init__(self, config: Config) -> None:
        self.folder = config.resolved_sms_outbox_dir

    def send(self, phone: str, text: str) -> None:
        private_dir(self.folder)
        path = self.folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}.json"
        body = json.dumps({"to": phone, "text": text, "at": time.time()}, ensure_ascii=False)
        write_private(path, body.encode())
        log.warning("no SMS gateway configured: message to %s written to %s", phone, path)


class HttpGateway:
    """A generic brandname gateway: POST JSON or form fields, check the answer."""

    def __init__(self, config: Config) -> None:
        self.cfg = config.sms

    def _body(self, phone: str, text: str) -> dict:
        cfg = self.cfg
        number = "84" + phone[1:] if cfg.phone_format == "84" and phone.startswith("0") else phone
        body = {cfg.phone_field: number, cfg.message_field: text}
        if cfg.brandname_field:
            body[cfg.brandname_field] = cfg.brandname
        key = os.environ.get(cfg.api_key_env, "")
        if cfg.api_key_field:
            body[cfg.api_key_field] = key
        return body

    def _accepted(self, response: requests.Response) -> bool:
        if not 200 <= response.status_code < 300:
            return False
        if not self.cfg.success_field:
            return True
        try:
            answer = response.json()
        except ValueError:
            return False
        return (
            isinstance(answer, dict)
            and str(answer.get(self.cfg.success_field)) == self.cfg.success_value
        )

    def send(self, phone: str, text: str) -> None:
        body = self._body(phone, text)
        kwargs = {"json": body} if self.cfg.http_format == "json" else {"data": body}
        problem, attempts = "not attempted", 0
        for _ in range(1 + max(0, self.cfg.retries)):
            attempts += 1
            try:
                response = requests.post(
                    self.cfg.http_url, timeout=self.cfg.timeout, allow_redirects=False, **kwargs
                )
            except requests.RequestException as exc:
                problem = f"{type(exc).__name__}"
                continue
            if self._accepted(response):
                return
            problem = f"HTTP {response.status_code}: {response.text[:200]!r}"
            if response.status_code < 500:
                break  # the gateway refused this message; retrying will not help
        log.error("SMS to %s failed after %d attempt(s): %s", phone, attempts, problem)
        raise SmsError(problem)


def gateway() -> Gateway:
    config = current_app.config["IDP"]
    return HttpGateway(config) if config.sms.gateway == "http" else OutboxGateway(config)


def send(phone: str, text: str) -> None:
    gateway().send(phone, text)
