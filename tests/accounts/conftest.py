"""Account tests send real mail: an aiosmtpd server on loopback receives it."""

from __future__ import annotations

import re
import socket
from email import message_from_bytes, policy
from email.message import Message

import pytest
from aiosmtpd.controller import Controller

from idp.config import MailConfig
from tests.conftest import make_config


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 OK"

    def last_link(self, path: str) -> str:
        body = self.messages[-1].get_content()
        return re.search(rf"https?://\S+{path}\S+", body).group(0)


@pytest.fixture
def smtp():
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        inbox.port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
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
