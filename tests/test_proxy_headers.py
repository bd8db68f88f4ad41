"""Behind a reverse proxy: X-Forwarded-* is honoured only from the configured proxy networks,
so a request that reaches the hub directly cannot choose its client IP or scheme."""

from __future__ import annotations

import pytest
from flask import request as incoming

from idp import create_app
from idp.config import ServerConfig
from idp.keys import ensure_keys
from idp.store.migrate import upgrade
from tests.conftest import make_config


@pytest.fixture
def proxied_app(tmp_path, request):
    def build(networks: str):
        config = make_config(
            tmp_path,
            "sqlite",
            request,
            server=ServerConfig(trusted_proxies=1, trusted_proxy_networks=networks),
        )
        upgrade(config.resolved_database_url)
        ensure_keys(config.resolved_keys_dir, config.keys_passphrase_env)
        app = create_app(config)

        @app.get("/test-whoami")
        def whoami():  # noqa: ANN202
            return {"ip": incoming.remote_addr, "scheme": incoming.scheme}

        return app

    return build


FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


def test_forwarded_headers_count_only_from_the_proxy(proxied_app):
    app = proxied_app("10.0.0.5/32")
    web = app.test_client()
    via_proxy = web.get("/test-whoami", headers=FORWARDED, environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert via_proxy.get_json() == {"ip": "203.0.113.7", "scheme": "https"}
    direct = web.get("/test-whoami", headers=FORWARDED, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert direct.get_json() == {"ip": "10.0.0.9", "scheme": "http"}


def test_without_networks_every_peer_is_taken_for_the_proxy(proxied_app):
    app = proxied_app("")
    answer = app.test_client().get(
        "/test-whoami", headers=FORWARDED, environ_base={"REMOTE_ADDR": "10.0.0.9"}
    )
    assert answer.get_json()["ip"] == "203.0.113.7"
