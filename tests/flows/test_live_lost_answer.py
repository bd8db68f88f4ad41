"""A departmental system that sends a refresh to `idp serve` and never reads the answer (its
connection dropped, its process restarted) retries with the same refresh token and keeps its
grant (issue 17); on the embedded default and on PostgreSQL + Redis."""

from __future__ import annotations

import base64
import socket
import time
from urllib.parse import urlencode, urlsplit

import requests

from tests.flows.live import Browser
from tests.flows.test_live_code_flow import PASSWORD, USER, live, oauth, start  # noqa: F401


def send_and_walk_away(url: str, client: tuple[str, str], refresh_token: str) -> None:
    """POST a refresh on a raw connection and close it without reading a byte of the answer."""
    parts = urlsplit(url)
    body = urlencode({"grant_type": "refresh_token", "refresh_token": refresh_token}).encode()
    basic = base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()
    head = (
        f"POST /token HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Basic {basic}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(head.encode() + body)


def introspect(hub, token: str) -> dict:  # noqa: ANN001
    return requests.post(
        hub.url + "/introspect",
        data={"token": token, "token_type_hint": "refresh_token"},
        auth=(hub.client_id, hub.client_secret),
        timeout=10,
    ).json()


def test_a_client_that_never_reads_the_answer_retries_and_keeps_its_grant(live):  # noqa: F811
    session = oauth(live)
    url, state, verifier, _ = start(live, session)
    callback = Browser(live).sign_in(url, USER, PASSWORD)
    first = session.fetch_token(
        live.metadata()["token_endpoint"],
        authorization_response=callback,
        code_verifier=verifier,
        state=state,
    )
    client = (live.client_id, live.client_secret)
    send_and_walk_away(live.url, client, first["refresh_token"])
    deadline = time.monotonic() + 10  # a bound on waiting for the hub, not a measurement
    while introspect(live, first["refresh_token"]).get("active"):
        assert time.monotonic() < deadline, "the walked-away refresh was never handled"
        time.sleep(0.05)

    data = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    retry = requests.post(live.url + "/token", data=data, auth=client, timeout=10)
    assert retry.status_code == 200, retry.text
    renewed = retry.json()
    headers = {"Authorization": f"Bearer {renewed['access_token']}"}
    assert requests.get(live.url + "/userinfo", headers=headers, timeout=10).status_code == 200
    data = {"grant_type": "refresh_token", "refresh_token": renewed["refresh_token"]}
    onward = requests.post(live.url + "/token", data=data, auth=client, timeout=10)
    assert onward.status_code == 200, onward.text
