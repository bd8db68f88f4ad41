"""Upstream health (issue 17): a connector whose upstream stops answering is shown as unavailable
with the hub's message, never a browser sent to a dead host; it comes back by itself; and a
connector whose secret variable is unset is named at `idp serve` start and in /readyz."""

from __future__ import annotations

import re
import time
from dataclasses import replace

import pytest

from idp.config import BrokerConfig
from tests.broker.conftest import free_port, mock_connector, run_mock_national
from tests.conftest import ISSUER, make_config

BUTTON = re.compile(r'href="(/interaction/[^"]+/broker/dvcqg)"')
UNAVAILABLE_VI = "Cách đăng nhập này tạm thời không sử dụng được"


@pytest.fixture
def own_portal():
    """A mock national portal of this test only, which the test stops and starts again."""
    port = free_port()
    state = {"process": run_mock_national(port), "port": port}
    yield state
    state["process"].terminate()
    state["process"].wait(10)


@pytest.fixture
def config(tmp_path, backend, request, own_portal, monkeypatch):
    monkeypatch.setenv("IDP_MOCK_NATIONAL_SECRET", "mock-national-test-secret")
    connector = mock_connector(f"http://127.0.0.1:{own_portal['port']}")
    return make_config(
        tmp_path,
        backend,
        request,
        connectors={"dvcqg": connector},
        # Checked before every browser is sent there; a failure is remembered for 1 s.
        broker=BrokerConfig(upstream_check_interval=0, upstream_retry_after=1),
    )


def sign_in_page(hub, client_id: str) -> str:
    return hub.web.get(hub.login_url(client_id)).get_data(as_text=True)


def test_a_stopped_national_portal_gives_the_hubs_page_and_comes_back(hub, own_portal, clock):
    client_id, _ = hub.add_client()
    page = sign_in_page(hub, client_id)
    sent = hub.web.get(BUTTON.search(page).group(1))
    assert sent.status_code == 302
    assert sent.headers["Location"].startswith(f"http://127.0.0.1:{own_portal['port']}/")

    own_portal["process"].terminate()
    own_portal["process"].wait(10)
    page = sign_in_page(hub, client_id)  # no failure seen yet: still offered
    answer = hub.web.get(BUTTON.search(page).group(1))
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(ISSUER) or location.startswith("/"), location
    assert "reason=national_unreachable" in location
    shown = hub.web.get(location.removeprefix(ISSUER)).get_data(as_text=True)
    assert "Cổng DVC quốc gia không phản hồi" in shown  # the hub's message
    assert UNAVAILABLE_VI in shown and not BUTTON.search(shown)  # not a link to a dead host

    own_portal["process"] = run_mock_national(own_portal["port"])
    clock.advance(2)  # past upstream_retry_after (the SQL store's time; Redis keeps its own)
    deadline = time.monotonic() + 10  # a bound on waiting (retry_after is 1 s), not a measure
    while not BUTTON.search(page := sign_in_page(hub, client_id)):
        assert time.monotonic() < deadline, "the connector was not offered again"
        time.sleep(0.2)
    assert (
        hub.web.get(BUTTON.search(page).group(1))
        .headers["Location"]
        .startswith(f"http://127.0.0.1:{own_portal['port']}/")
    )


def test_a_missing_secret_variable_is_shown_unavailable_and_named_in_readyz(hub, app, monkeypatch):
    monkeypatch.delenv("IDP_MOCK_NATIONAL_SECRET")
    client_id, _ = hub.add_client()
    page = sign_in_page(hub, client_id)
    assert UNAVAILABLE_VI in page and not BUTTON.search(page)
    ready = hub.web.get("/readyz").get_json()
    assert "IDP_MOCK_NATIONAL_SECRET" in ready["connectors"]["dvcqg"]
    assert ready["status"] == "ready"  # local sign-in and every client still work


def test_idp_serve_names_connector_problems_at_start(tmp_path, monkeypatch):
    from idp.broker.health import start_problems

    monkeypatch.delenv("IDP_UNSET_SECRET", raising=False)
    config = make_config(
        tmp_path,
        "sqlite",
        None,
        connectors={
            "dvcqg": replace(
                mock_connector(f"http://127.0.0.1:{free_port()}"),
                client_secret_env="IDP_UNSET_SECRET",
            ),
            "vneid": mock_connector(f"http://127.0.0.1:{free_port()}"),
        },
    )
    monkeypatch.setenv("IDP_MOCK_NATIONAL_SECRET", "x")
    found = start_problems(config)
    assert "IDP_UNSET_SECRET" in found["dvcqg"]
    assert "ConnectionError" in found["vneid"]  # nothing listens on its discovery port


def test_idp_serve_start_names_a_missing_secret_and_an_unreachable_discovery(tmp_path, monkeypatch):
    from click.testing import CliRunner

    import idp.serve
    from idp.cli import main

    monkeypatch.delenv("IDP_UNSET_SECRET", raising=False)
    monkeypatch.setattr(idp.serve, "run", lambda *args: None)  # start nothing
    config = tmp_path / "idp.toml"
    config.write_text(
        f'instance_dir = "{tmp_path / "instance"}"\n'
        "[connectors.dvcqg]\n"
        'label_vi = "Cổng DVC quốc gia"\n'
        f'discovery_url = "http://127.0.0.1:{free_port()}/.well-known/openid-configuration"\n'
        'client_id = "hub"\nclient_secret_env = "IDP_UNSET_SECRET"\n'
    )
    result = CliRunner().invoke(main, ["--config", str(config), "serve"])
    assert result.exit_code == 0, result.output
    assert "connector dvcqg is unavailable" in result.output
    assert "IDP_UNSET_SECRET" in result.output


def test_server_errors_upstream_mark_the_connector_but_one_persons_failure_does_not(hub, app):
    from idp.broker import health
    from idp.broker.upstream import UpstreamError

    with app.test_request_context():
        health.mark_failing("dvcqg", UpstreamError("error_answer", "token endpoint: HTTP 400 x"))
        health.mark_failing("dvcqg", UpstreamError("bad_token", "nonce"))
        assert health.unavailable("dvcqg") is None
        health.mark_failing("dvcqg", UpstreamError("error_answer", "token endpoint: HTTP 502 "))
        assert "HTTP 502" in health.unavailable("dvcqg")
