"""Issue 16, findings 3, 4, 6 and 7: reset links that cannot be replayed and never reach a
log; forgot-password, activation resend and registration limited per address, identity number
and IP, answering alike (text and time) whether an account exists."""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import replace
from urllib.parse import urlsplit

import pytest

from idp.observability import redact
from idp.serve.gunicorn_engine import RedactingLogger
from tests.accounts.test_recovery_profile_staff import NEW_PASSWORD, account_browser
from tests.accounts.test_registration import CITIZEN, post_form

OTHER_PASSWORD = "Hồ-Gươm-xanh-biếc-2026"


def ask_reset(hub, identifier="dan@example.vn"):
    return post_form(hub.app.test_client(), "/password/forgot", {"identifier": identifier})


def reset(hub, path, password=NEW_PASSWORD):
    return post_form(
        hub.app.test_client(), path, {"password": password, "password_confirm": password}
    )


def test_a_new_reset_link_voids_the_older_one(hub, smtp):
    hub.add_user(email="dan@example.vn")
    ask_reset(hub)
    first = urlsplit(smtp.last_link("/password/reset/")).path
    ask_reset(hub)
    second = urlsplit(smtp.last_link("/password/reset/")).path
    assert first != second
    assert hub.app.test_client().get(first).status_code == 400
    assert reset(hub, first).status_code == 400
    assert reset(hub, second).status_code == 200


def test_using_a_link_or_changing_the_password_voids_every_link(hub, smtp, app):
    hub.add_user(email="dan@example.vn")
    ask_reset(hub)
    link = urlsplit(smtp.last_link("/password/reset/")).path
    assert reset(hub, link).status_code == 200
    assert reset(hub, link, OTHER_PASSWORD).status_code == 400
    # A link asked for before a password change at /account/password no longer works.
    ask_reset(hub)
    stale = urlsplit(smtp.last_link("/password/reset/")).path
    web = account_browser(hub, password=NEW_PASSWORD)
    changed = post_form(
        web,
        "/account/password",
        {
            "current_password": NEW_PASSWORD,
            "password": OTHER_PASSWORD,
            "password_confirm": OTHER_PASSWORD,
        },
    )
    assert changed.status_code == 200
    assert reset(hub, stale).status_code == 400


@pytest.fixture
def access_lines(caplog):
    caplog.set_level(logging.INFO, logger="idp")
    return caplog


def test_the_access_log_records_secret_paths_with_the_token_replaced(hub, smtp, access_lines):
    hub.add_user(email="dan@example.vn")
    ask_reset(hub)
    link = urlsplit(smtp.last_link("/password/reset/")).path
    token = link.rsplit("/", 1)[1]
    hub.app.test_client().get(link)
    hub.app.test_client().get("/activate/" + "A" * 43)
    hub.app.test_client().get("/broker/dvcqg/callback?code=upstream-code-1&state=s")
    lines = [r.getMessage() + str(getattr(r, "path", "")) for r in access_lines.records]
    assert any("/password/reset/[redacted]" in line for line in lines)
    assert not any(token in line or "upstream-code-1" in line for line in lines)
    assert not any("A" * 43 in line for line in lines)


def test_gunicorn_text_access_lines_are_redacted_too():
    assert redact("GET /password/reset/s3cr3t?lang=en HTTP/1.1") == (
        "GET /password/reset/[redacted]?lang=en HTTP/1.1"
    )
    assert redact("code=abc&state=x") == "code=[redacted]&state=x"
    assert redact("/activate/resend") == "/activate/resend"
    # Red team: a doubled slash still reaches the reset page (a redirect), and a PKCE verifier
    # sent in a query string is a secret too.
    assert redact("/password//reset/s3cr3t") == "/password//reset/[redacted]"
    assert redact("/token?code_verifier=v3r1f13r&x=1") == "/token?code_verifier=[redacted]&x=1"

    class Req:
        method, path, query, version, headers = "GET", "/register/phone/t0k", "code=9", (1, 1), []
        uri = "/register/phone/t0k?code=9"

    class Resp:
        status, response_length, sent, headers = "200 OK", 0, 0, []

    from datetime import timedelta

    from gunicorn.config import Config

    environ = {
        "REQUEST_METHOD": "GET",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "RAW_URI": Req.uri,
        "QUERY_STRING": "code=9",
        "HTTP_REFERER": "http://h/password/reset/r3f",
    }
    atoms = RedactingLogger(Config()).atoms(Resp(), Req(), environ, timedelta(seconds=0.01))
    text = " ".join(str(v) for v in atoms.values())
    assert "t0k" not in text and "code=9" not in text and "r3f" not in text


def test_forgot_password_is_capped_per_address_and_per_ip(hub, smtp, app):
    hub.add_user(email="dan@example.vn")
    before = len(smtp.messages)
    for _ in range(20):
        response = ask_reset(hub)
        assert response.status_code == 200 and "kiểm tra hộp thư" in response.text
    cap = app.config["IDP"].accounts.mail_requests_per_address_day
    assert len(smtp.messages) - before == cap
    for n in range(30):
        ask_reset(hub, f"other{n}@example.vn")
    resend = post_form(hub.app.test_client(), "/activate/resend", {"identifier": "x@example.vn"})
    assert resend.status_code == 200  # same answer when the IP is over its limit


def test_forgot_password_answers_in_the_same_time_for_known_and_unknown(hub, smtp, app):
    app.config["IDP"] = replace(
        app.config["IDP"],
        accounts=replace(
            app.config["IDP"].accounts,
            mail_requests_per_address_day=1000,
            requests_per_ip_hour=1000,
        ),
    )
    hub.add_user(email="dan@example.vn")
    web = hub.app.test_client()
    from tests.conftest import hidden_inputs

    token = hidden_inputs(web.get("/password/forgot").text)

    def timed(identifier: str) -> float:
        started = time.perf_counter()
        response = web.post("/password/forgot", data={**token, "identifier": identifier})
        elapsed = time.perf_counter() - started
        assert response.status_code == 200
        smtp.messages  # noqa: B018 - let the mail go before the next request
        return elapsed

    known, unknown = [], []
    for n in range(40):  # interleaved, so load on the machine falls on both alike
        known.append(timed("dan@example.vn"))
        unknown.append(timed(f"nobody{n}@example.vn"))
    # The lower quartile: what the request itself costs, without the spikes of a busy machine.
    fast_known = statistics.quantiles(known, n=4)[0]
    fast_unknown = statistics.quantiles(unknown, n=4)[0]
    assert abs(fast_known - fast_unknown) < max(0.001, 0.3 * fast_unknown), (known, unknown)


def test_registration_does_not_say_an_identity_number_has_an_account(hub, smtp):
    post_form(hub.web, "/register", CITIZEN)
    hub.app.test_client().get(urlsplit(smtp.last_link("/activate/")).path)
    again = post_form(
        hub.app.test_client(), "/register", {**CITIZEN, "username": "another1", "email": "b@x.vn"}
    )
    fresh = post_form(
        hub.app.test_client(),
        "/register",
        {**CITIZEN, "national_id": "001090000002", "username": "another2", "email": "c@x.vn"},
    )
    assert again.status_code == fresh.status_code == 200
    assert "national_id-error" not in again.text


def test_registration_is_limited_per_identity_number_and_per_ip(hub, smtp, app):
    cap = app.config["IDP"].accounts.registrations_per_national_id_day
    answers = [
        post_form(
            hub.app.test_client(),
            "/register",
            {**CITIZEN, "username": f"probe{n:04d}", "email": f"p{n}@x.vn"},
        ).status_code
        for n in range(cap + 2)
    ]
    assert answers[:cap] == [200] * cap and answers[cap:] == [429, 429]


def test_mailed_links_name_the_issuer_not_the_host_header(hub, smtp):
    hub.add_user(email="dan@example.vn")
    post_form(hub.web, "/register", CITIZEN)
    assert smtp.last_link("/activate/").startswith(hub.app.config["IDP"].issuer + "/activate/")
    web = hub.app.test_client()
    from tests.conftest import hidden_inputs

    evil = {"base_url": "http://evil.example"}
    token = hidden_inputs(web.get("/password/forgot", **evil).text)
    sent = web.post("/password/forgot", data={**token, "identifier": "dan@example.vn"}, **evil)
    assert sent.status_code == 200
    link = smtp.last_link("/password/reset/")
    assert link.startswith(hub.app.config["IDP"].issuer) and "evil" not in link
