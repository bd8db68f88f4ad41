"""Two people's browsers against one live hub: the attacker's cookie jar and the victim's.

A live hub (`idp serve`, 2 workers) with the mock national portal (`idp mock-national`, its own
process) as the `dvcqg` connector, and helpers for what each browser does: start a sign-in at a
client system, go through the national portal, read an SMS code, exchange a code for tokens.
The threat model's first class (shared/threat-model.md §1) is tested with these: the attacker's
jar starts or learns an identifier, the victim's jar does the steps (or the other way round),
and the other jar must see nothing and change nothing.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests

from tests.flows.live import Browser, LiveHub, free_port

MOCK_SECRET = "mock-national-live-secret"
USER, PASSWORD = "congdan01", "Mật-khẩu-an-toàn-1"
OTHER, OTHER_PASSWORD = "congdan02", "Mật-khẩu-an-toàn-2"
# What the hub says, in Vietnamese, when a step is opened in a browser that did not start it.
FOREIGN = "trình duyệt khác"


class MockNational:
    """`idp mock-national` as operators start it, registered for one hub's callback."""

    def __init__(self, hub_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                shutil.which("idp"),
                "mock-national",
                "--port",
                str(self.port),
                "--redirect-uri",
                f"{hub_url}/broker/dvcqg/callback",
                "--backchannel-logout-uri",
                f"{hub_url}/broker/dvcqg/backchannel-logout",
            ],
            env={**os.environ, "IDP_MOCK_NATIONAL_SECRET": MOCK_SECRET},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(self.url + "/.well-known/openid-configuration", timeout=1)
                return
            except requests.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("idp mock-national did not start") from None
                time.sleep(0.1)

    def connector_config(self) -> str:
        return (
            "[connectors.dvcqg]\n"
            'label_vi = "Tài khoản cấp bởi Cổng DVC quốc gia"\n'
            f'discovery_url = "{self.url}/.well-known/openid-configuration"\n'
            'client_id = "hub-tinh"\n'
            'client_secret_env = "IDP_MOCK_NATIONAL_SECRET"\n'
        )

    def decide(self, upstream_url: str, person: str, fault: str = "") -> str:
        """The person signs in at the portal's page; returns the hub callback it sends back."""
        page = requests.get(upstream_url, timeout=5)
        request_id = re.search(r'name="request_id" value="([^"]+)"', page.text).group(1)
        answer = requests.post(
            self.url + "/oauth2/authorize/decide",
            data={"request_id": request_id, "person": person, "account_type": "vneid"}
            | ({"fault": fault} if fault else {}),
            allow_redirects=False,
            timeout=5,
        )
        return answer.headers["Location"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def start_hub(workdir: Path, backend_config: str) -> tuple[LiveHub, MockNational]:
    """A live hub with the mock portal as its national connector, and two local citizens."""
    hub = LiveHub(workdir, "", env={"IDP_MOCK_NATIONAL_SECRET": MOCK_SECRET})
    mock = MockNational(hub.url)
    hub.config_path.write_text(
        hub.config_path.read_text().replace("[server]", backend_config + "\n[server]")
        + mock.connector_config()
    )
    try:
        hub.start()
    except Exception:
        mock.stop()
        raise
    for username, password, phone, number in (
        (USER, PASSWORD, "0912345678", "001190000001"),
        (OTHER, OTHER_PASSWORD, "0987654321", "001190000002"),
    ):
        hub.cli(
            "users", "add", "--username", username, "--password", password,
            "--full-name", "Công Dân", "--email", f"{username}@example.vn",
            "--phone", phone, "--national-id", number,
        )  # fmt: skip
    return hub, mock


class Client:
    """A departmental client system registered with the live hub, driving the code flow."""

    def __init__(self, hub: LiveHub, name: str, *flags: str) -> None:
        self.hub = hub
        self.redirect_uri = f"http://127.0.0.1:{hub.port + 1}/{name}/callback"
        registered = hub.cli_json(
            "clients", "add", "--name", name, "--redirect-uri", self.redirect_uri,
            "--first-party", "--scope", "openid profile email", *flags,
        )  # fmt: skip
        self.client_id = registered["client_id"]
        self.secret = registered["client_secret"]

    def authorize_url(self, **params: str) -> str:
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid profile email",
            "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8),
            **params,
        }
        return f"{self.hub.url}/authorize?{urlencode(query)}"

    def exchange(self, final_location: str | None) -> dict:
        """The client's back end: the code from the redirect, exchanged for tokens."""
        assert final_location and final_location.startswith(self.redirect_uri), final_location
        code = parse_qs(urlsplit(final_location).query)["code"][0]
        response = requests.post(
            self.hub.url + "/token",
            data={"grant_type": "authorization_code", "code": code,
                  "redirect_uri": self.redirect_uri},
            auth=(self.client_id, self.secret),
            timeout=10,
        )  # fmt: skip
        assert response.status_code == 200, response.text
        return response.json()

    def userinfo(self, access_token: str) -> requests.Response:
        return requests.get(
            self.hub.url + "/userinfo",
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=10,
        )

    def introspect(self, token: str) -> dict:
        return requests.post(
            self.hub.url + "/introspect",
            data={"token": token},
            auth=(self.client_id, self.secret),
            timeout=10,
        ).json()

    def refresh(self, refresh_token: str) -> requests.Response:
        return requests.post(
            self.hub.url + "/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=(self.client_id, self.secret),
            timeout=10,
        )


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


class Person(Browser):
    """One person's browser (its own cookie jar) with the steps the tests repeat."""

    def get(self, url: str) -> requests.Response:
        """One request, no redirects followed: what this browser sees at `url`."""
        return self.session.get(urljoin(self.hub.url, url), allow_redirects=False, timeout=10)

    def post(self, url: str, data: dict[str, str]) -> requests.Response:
        """A form POST carrying this browser's own CSRF token (any page of the hub gives one),
        the way an attacker replays a step with his own valid form session."""
        token = csrf_token(self.session.get(self.hub.url + "/register", timeout=10).text)
        return self.session.post(
            urljoin(self.hub.url, url),
            data={"csrf_token": token, **data},
            allow_redirects=False,
            timeout=10,
        )

    def send(self, page: requests.Response, fields: dict[str, str]) -> requests.Response:
        """Post a form of `page` back to its address with the page's own CSRF token, and
        follow the hub's redirects (the pages with two forms pick one by `action`)."""
        data = {"csrf_token": csrf_token(page.text), **fields}
        response = self.session.post(page.url, data=data, allow_redirects=False, timeout=10)
        return self._follow(response)

    def login_page(self, client: Client, **params: str) -> requests.Response:
        page = self.open(client.authorize_url(**params))
        assert page.status_code == 200 and "/interaction/" in page.url, page.url
        return page

    def national_button(self, client: Client) -> str:
        """Start a sign-in at the client; the path of the sign-in page's national button."""
        page = self.login_page(client)
        return re.search(r'href="(/interaction/[^"]+/broker/dvcqg)"', page.text).group(1)

    def to_national_portal(self, client: Client) -> str:
        """Press the national button: the portal's address this browser is sent to."""
        response = self.get(self.national_button(client))
        assert response.status_code == 302, response.text[:300]
        return response.headers["Location"]

    def password_sign_in(self, client: Client, username: str, password: str) -> requests.Response:
        page = self.login_page(client)
        return self.submit(page, {"username": username, "password": password})


def newest_sms_code(hub: LiveHub) -> str:
    files = sorted(
        (hub.workdir / "instance").rglob("sms-outbox/*.json"), key=lambda p: p.stat().st_mtime_ns
    )
    assert files, "no SMS was sent"
    return re.search(r"\b(\d{6})\b", json.loads(files[-1].read_text())["text"]).group(1)
