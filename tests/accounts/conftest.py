"""Account tests send real mail: an aiosmtpd server on loopback receives it."""

from __future__ import annotations

import re
import socket
from email import message_from_bytes, policy
from email.message import Message

import pytest
from aiosmtpd.controller import Controller

from idp import background
from idp.config import MailConfig
from tests.conftest import make_config


class Inbox:
    def __init__(self) -> None:
        self._messages: list[Message] = []

    @property
    def messages(self) -> list[Message]:
        """What arrived, once the hub's background queue sent what it owed."""
        background.drain_all()
        return self._messages

    def deliver(self, raw: bytes) -> None:
        self._messages.append(message_from_bytes(raw, policy=policy.default))

    def last_link(self, path: str) -> str:
        """The link to `path` in the newest message that has one (security notices may
        follow the message that carried it)."""
        for message in reversed(self.messages):
            found = re.search(rf"https?://\S+{path}\S+", message.get_content())
            if found:
                return found.group(0)
        raise AssertionError(f"no message links to {path}")


class Handler:
    """The SMTP server's side (aiosmtpd inspects it; the inbox's `messages` waits on the hub)."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        self.inbox.deliver(envelope.original_content)
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        inbox.port = probe.getsockname()[1]
    controller = Controller(Handler(inbox), hostname="127.0.0.1", port=inbox.port)
    controller.start()
    yield inbox
    controller.stop()


@pytest.fixture
def config(tmp_path, backend, request, smtp):
    return make_config(
        tmp_path,
        backend,
        request,
        mail=MailConfig(
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            security="none",
            sender="Cổng DVC tỉnh <no-reply@tinh.gov.vn>",
        ),
    )
