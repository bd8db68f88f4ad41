"""Fixtures: a hub per test on the embedded default (SQLite, SQL store) and on PostgreSQL +
Redis over real connections; a helper that walks the sign-in journey."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import psycopg
import pytest
import redis
from sqlalchemy import create_engine, text

from idp import create_app
from idp.clock import FrozenClock
from idp.config import Config, LogoutConfig
from idp.keys import ensure_keys
from idp.store import clients as store_clients
from idp.store import db
from idp.store import users as store_users
from idp.store.migrate import upgrade
from tests import services

# This run's own throwaway PostgreSQL and Redis (tests/services.py), shared by xdist's workers.
services.ensure()
PG_ADMIN_URL = os.environ.get(services.PG_ENV, "")
REDIS_URL = os.environ.get(services.REDIS_ENV, "")
BACKENDS = ["sqlite", "pg"]
ISSUER = "http://127.0.0.1:8000"


def require_services() -> None:
    """Skip a PostgreSQL + Redis test where their programs are missing (fail under CI)."""
    reason = services.missing_reason()
    if reason is None:
        return
    if os.environ.get("IDP_REQUIRE_SERVICES") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@contextmanager
def fresh_pg_database(prefix: str = "idp_test", migrate: bool = True):
    """A new PostgreSQL database (its URL), migrated unless told not to, dropped afterwards."""
    require_services()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    if migrate:
        upgrade(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_database_url():
    """A fresh PostgreSQL database for this test run, migrated once, dropped at the end."""
    with fresh_pg_database() as url:
        yield url


def make_config(tmp_path: Path, backend: str, request, **overrides) -> Config:
    base = dict(
        issuer=ISSUER,
        instance_dir=str(tmp_path / "instance"),
        keys_dir=str(tmp_path / "keys"),
        logout=LogoutConfig(
            backchannel_timeout=1.0, backchannel_max_attempts=2, backchannel_retry_delay=0.05
        ),
    )
    if backend == "pg":
        base["database_url"] = request.getfixturevalue("pg_database_url")
        base["redis_url"] = REDIS_URL
        base["redis_key_prefix"] = f"idptest:{uuid.uuid4().hex[:8]}:"
    base.update(overrides)
    return Config(**base)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    if request.param == "pg":
        require_services()
    return request.param


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def config(tmp_path, backend, request) -> Config:
    return make_config(tmp_path, backend, request)


@pytest.fixture
def app(config, clock, backend):
    if backend == "sqlite":
        upgrade(config.resolved_database_url)
    ensure_keys(config.resolved_keys_dir, config.keys_passphrase_env)
    app = create_app(config, clock=clock)
    app.config["TESTING"] = True
    store_clients.forget()
    yield app
    app.extensions["idp_backchannel"].stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if backend == "pg":
        reset_pg(config)
    store_clients.forget()


def empty_pg(database_url: str) -> None:
    """Empty every table of the shared test database."""
    engine = create_engine(database_url)
    with engine.begin() as conn:
        tables = ", ".join(t.name for t in db.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


def reset_pg(config: Config) -> None:
    """Empty the shared test database and this test's Redis keys."""
    empty_pg(config.resolved_database_url)
    r = redis.Redis.from_url(REDIS_URL)
    for key in r.scan_iter(config.redis_key_prefix + "*"):
        r.delete(key)


@pytest.fixture
def web(app):
    return app.test_client()


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def hidden_inputs(html: str) -> dict[str, str]:
    return dict(
        re.findall(r'<input[^>]*name="([^"]+)"[^>]*type="hidden"[^>]*value="([^"]*)"', html)
        + re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html)
    )


def sms_messages(app) -> list[dict]:
    """Text messages the dev outbox gateway wrote, oldest first, once the hub's background
    queue sent what it owed (security notices go after the request that caused them)."""
    import json

    from idp import background

    background.drain_all()
    folder = app.config["IDP"].resolved_sms_outbox_dir
    files = (
        sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns) if folder.exists() else []
    )
    return [json.loads(p.read_text()) for p in files]


def last_sms_code(app, to: str | None = None) -> str:
    """The six-digit code of the newest SMS (to one number, if given)."""
    messages = [m for m in sms_messages(app) if to is None or m["to"] == to]
    assert messages, "no SMS was sent"
    return re.search(r"\b(\d{6})\b", messages[-1]["text"]).group(1)


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


class Hub:
    """Repeated actions against an in-process hub: register, sign in, consent, exchange."""

    def __init__(self, app, web) -> None:
        self.app = app
        self.web = web

    def add_client(self, **kwargs):
        defaults = dict(
            name="Hệ thống Một cửa điện tử",
            redirect_uris=["https://rp.example/cb"],
            auth_method="client_secret_basic",
        )
        defaults.update(kwargs)
        with self.app.app_context():
            client, secret = store_clients.create(**defaults)
            return client.client_id, secret

    def add_user(self, username="citizen01", password="Mật-khẩu-123", **kwargs):
        with self.app.app_context():
            user = store_users.create(username=username, password=password, **kwargs)
            return user.subject

    def authorize(self, **params):
        return self.web.get("/authorize?" + urlencode(params))

    def login_url(self, client_id, redirect_uri="https://rp.example/cb", **params) -> str:
        """Start an authorization with no session and return its sign-in page's address."""
        params.setdefault("scope", "openid")
        response = self.follow(
            self.authorize(
                response_type="code", client_id=client_id, redirect_uri=redirect_uri, **params
            )
        )
        location = response.headers["Location"]
        assert urlsplit(location).path.endswith("/login"), location
        return location

    def login(self, location: str, username="citizen01", password="Mật-khẩu-123"):
        page = self.web.get(location)
        assert page.status_code == 200, page.get_data(as_text=True)
        form = hidden_inputs(page.get_data(as_text=True))
        form.update(username=username, password=password)
        return self.web.post(location, data=form)

    def consent(self, location: str, decision="allow"):
        page = self.web.get(location)
        form = hidden_inputs(page.get_data(as_text=True))
        form["decision"] = decision
        return self.web.post(location, data=form)

    def follow(self, response):
        """Follow hub-internal redirects; stop at the first one that leaves the hub."""
        while response.status_code in (302, 303):
            location = response.headers["Location"]
            if location.startswith("http") and not location.startswith(ISSUER):
                return response
            if "/interaction/" in location:
                return response
            response = self.web.get(location)
        return response

    def sign_in(
        self,
        client_id,
        redirect_uri="https://rp.example/cb",
        consent=True,
        username="citizen01",
        password="Mật-khẩu-123",
        **params,
    ):
        """Run the whole journey and return the final redirect to the client."""
        params.setdefault("scope", "openid profile email")
        params.setdefault("state", secrets.token_urlsafe(8))
        response = self.authorize(
            response_type="code", client_id=client_id, redirect_uri=redirect_uri, **params
        )
        response = self.follow(response)
        location = response.headers.get("Location", "")
        if location.endswith("/login"):
            response = self.follow(self.login(location, username, password))
            location = response.headers.get("Location", "")
        if location.endswith("/consent") and consent:
            response = self.follow(self.consent(location))
        return response

    def token(self, data: dict, auth: tuple[str, str] | None = None):
        headers = {}
        if auth:
            raw = f"{auth[0]}:{auth[1]}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        return self.web.post("/token", data=data, headers=headers)

    def tokens(self, client_id, secret, redirect_uri="https://rp.example/cb", **params) -> dict:
        """Sign in and exchange the code: the token response of a confidential client."""
        code = self.code_for(client_id, redirect_uri=redirect_uri, **params)
        response = self.token(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
            auth=(client_id, secret),
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def id_token_after(self, response, client_id, secret, redirect_uri="https://rp.example/cb"):
        """Follow a finished sign-in to the client, exchange its code, and return the verified
        ID token's claims."""
        from tests.oidc.test_id_token_userinfo import verify

        response = self.follow(response)
        assert response.status_code == 302, response.get_data(as_text=True)
        query = query_of(response.headers["Location"])
        assert "code" in query, query
        token = self.token(
            {
                "grant_type": "authorization_code",
                "code": query["code"],
                "redirect_uri": redirect_uri,
            },
            auth=(client_id, secret),
        )
        assert token.status_code == 200, token.get_json()
        return verify(self, token.get_json()["id_token"]).claims

    def code_for(self, client_id, **kwargs) -> str:
        response = self.sign_in(client_id, **kwargs)
        assert response.status_code == 302, response.get_data(as_text=True)
        query = query_of(response.headers["Location"])
        assert "code" in query, query
        return query["code"]


@pytest.fixture
def hub(app, web) -> Hub:
    return Hub(app, web)


@pytest.fixture
def receiver():
    """A client system's back-channel logout endpoint: a real HTTP server on loopback."""
    from tests.receiver import Receiver

    r = Receiver()
    yield r
    r.close()


def pytest_report_header(config) -> str:  # noqa: ANN001
    """One line at the top of the run: whose PostgreSQL and Redis it uses, or what is missing."""
    reason = services.missing_reason()
    if reason:
        return f"PostgreSQL + Redis tests skip here; {reason}"
    return f"PostgreSQL: {PG_ADMIN_URL}  Redis: {REDIS_URL}"
