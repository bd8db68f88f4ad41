"""Issue 16, findings 3, 8 and 9 against `idp serve` as operators run it: a whole journey
(reset by mailed link, sign-in with an SMS code, tokens, refresh, userinfo, logout) while every
log line the hub writes is kept, then each secret it issued is looked for in them; a request
line over 8 KB answered without a logging traceback; files private, and a warning at start
naming any path that is not."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import time
from email import message_from_bytes, policy
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from tests.flows.live import Browser, LiveHub, free_port, wait_for

USER, PASSWORD, NEW_PASSWORD = "nguyenvana", "Mật-khẩu-an-toàn-1", "Sông-Hồng-chảy-mãi-2026"
PHONE = "0912345678"


class TextLogHub(LiveHub):
    """A live hub whose [server] table also sets the log format."""

    def __init__(self, workdir, log_format: str) -> None:  # noqa: ANN001
        super().__init__(workdir)
        text = self.config_path.read_text().replace(
            "[server]\n", f'[server]\nlog_format = "{log_format}"\n'
        )
        self.config_path.write_text(text)


@pytest.fixture(scope="module", params=["json", "text"])
def live(request, tmp_path_factory):
    hub = TextLogHub(tmp_path_factory.mktemp(f"secrets-{request.param}"), request.param)
    hub.start()
    hub.redirect_uri = f"http://127.0.0.1:{hub.port + 1}/callback"
    client = hub.cli_json(
        "clients", "add", "--name", "Một cửa", "--redirect-uri", hub.redirect_uri,
        "--first-party", "--require-mfa",
    )  # fmt: skip
    hub.client_id, hub.client_secret = client["client_id"], client["client_secret"]
    hub.cli(
        "users", "add", "--username", USER, "--password", PASSWORD, "--full-name", "Nguyễn Văn A",
        "--email", "a@example.vn", "--phone", PHONE,
    )  # fmt: skip
    yield hub
    hub.stop()


def outbox_mail(hub) -> list[str]:
    folder = hub.workdir / "instance" / "outbox"
    files = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    return [message_from_bytes(p.read_bytes(), policy=policy.default).get_content() for p in files]


def outbox_sms(hub) -> list[str]:
    folder = hub.workdir / "instance" / "sms-outbox"
    files = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    return [json.loads(p.read_text())["text"] for p in files]


def submit_here(browser: Browser, page, fields: dict):  # noqa: ANN001, ANN201
    """Submit a page's form that posts to its own address (no action attribute)."""
    data = dict(re.findall(r'name="([^"]+)" type="hidden" value="([^"]*)"', page.text))
    response = browser.session.post(
        page.url, data={**data, **fields}, allow_redirects=False, timeout=10
    )
    return browser._follow(response)


def link_in_mail(hub, path: str) -> str:
    def newest() -> str | None:
        for body in reversed(outbox_mail(hub)):
            match = re.search(rf"https?://\S+{path}\S+", body)
            if match:
                return match.group(0)
        return None

    return wait_for(newest)


def test_no_secret_issued_in_a_journey_reaches_a_log_line(live):
    secrets_issued: list[str] = []
    browser = Browser(live)
    # Forgot password: the link comes by mail (from the background queue).
    page = browser.open(live.url + "/password/forgot")
    assert submit_here(browser, page, {"identifier": "a@example.vn"}).status_code == 200
    reset = link_in_mail(live, "/password/reset/")
    secrets_issued.append(urlsplit(reset).path.rsplit("/", 1)[1])
    done = submit_here(
        browser, browser.open(reset), {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
    )
    assert done.status_code == 200
    # Sign in with the new password and an SMS code; exchange the code, refresh, userinfo.
    authorize = (
        live.url
        + "/authorize?"
        + urlencode(
            {
                "response_type": "code",
                "client_id": live.client_id,
                "redirect_uri": live.redirect_uri,
                "scope": "openid profile",
                "state": "st-1",
                "nonce": "n-1",
            }
        )
    )
    page = browser.open(authorize)
    page = browser.submit(page, {"username": USER, "password": NEW_PASSWORD})
    assert "/otp" in page.url, page.url
    code = re.search(
        r"\b(\d{6})\b", wait_for(lambda: [t for t in outbox_sms(live) if "ma" in t.lower()])[-1]
    ).group(1)
    secrets_issued.append(code)
    back = browser.submit(page, {"action": "verify", "code": code})
    assert back.final_location and back.final_location.startswith(live.redirect_uri)
    auth_code = parse_qs(urlsplit(back.final_location).query)["code"][0]
    secrets_issued.append(auth_code)
    auth = (live.client_id, live.client_secret)
    tokens = requests.post(
        live.url + "/token",
        data={
            "grant_type": "authorization_code",
            "code": auth_code,
            "redirect_uri": live.redirect_uri,
        },
        auth=auth,
        timeout=10,
    ).json()
    refreshed = requests.post(
        live.url + "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=auth,
        timeout=10,
    ).json()
    for bundle in (tokens, refreshed):
        secrets_issued += [bundle["access_token"], bundle["refresh_token"], bundle["id_token"]]
    userinfo = requests.get(
        live.url + "/userinfo",
        headers={"Authorization": "Bearer " + refreshed["access_token"]},
        timeout=10,
    )
    assert userinfo.status_code == 200
    # An upstream-style callback and a logout carrying tokens in the query string.
    requests.get(live.url + "/broker/dvcqg/callback?code=upstream-secret-code&state=x", timeout=10)
    secrets_issued.append("upstream-secret-code")
    browser.open(live.url + "/logout?" + urlencode({"id_token_hint": refreshed["id_token"]}))
    secrets_issued.append(live.client_secret)
    # Every link in every mail and SMS the hub sent (reset, security notices) is a secret too.
    for text in outbox_mail(live) + outbox_sms(live):
        for path_token in re.findall(
            r"/(?:account/report|password/reset)/([A-Za-z0-9_-]{20,})", text
        ):
            secrets_issued.append(path_token)
    time.sleep(0.5)  # the last access lines
    log = live.log.read_text()
    assert "/password/reset/[redacted]" in log
    leaked = [s for s in set(secrets_issued) if s in log]
    assert not leaked, leaked


def test_a_request_line_over_8_kb_is_answered_without_a_traceback(live):
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as raw:
        raw.sendall(b"GET /" + b"a%s" * 4000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = raw.recv(200)
    assert answer.startswith(b"HTTP/1.1 414")
    time.sleep(0.3)
    log = live.log.read_text()
    assert "Logging error" not in log and "Traceback" not in log


def mode(path) -> int:  # noqa: ANN001
    return stat.S_IMODE(path.stat().st_mode)


def test_personal_data_files_are_private_and_serve_warns_when_not(live):
    instance = live.workdir / "instance"
    browser = Browser(live)
    submit_here(browser, browser.open(live.url + "/password/forgot"), {"identifier": USER})
    link_in_mail(live, "/password/reset/")  # the outbox holds a message
    assert mode(instance) == 0o700
    assert mode(instance / "idp.sqlite3") == 0o600
    for folder in (instance / "outbox", instance / "sms-outbox"):
        if not folder.exists():
            continue
        assert mode(folder) == 0o700
        assert all(mode(p) == 0o600 for p in folder.iterdir())
    os.chmod(instance / "idp.sqlite3", 0o644)
    try:
        port = free_port()
        process = subprocess.Popen(
            ["idp", "--config", str(live.config_path), "serve", "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            first = process.stdout.readline()
        finally:
            process.terminate()
            process.wait(timeout=15)
        assert "WARNING" in first and str(instance / "idp.sqlite3") in first and "644" in first
    finally:
        os.chmod(instance / "idp.sqlite3", 0o600)
