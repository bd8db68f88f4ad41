"""Refresh and code exchange that survive a failed answer (issue 17): nothing is used up unless
its replacement is written, and a client's retry after a lost answer is not taken for theft,
while reuse outside the retry window, or after the new pair was used, still revokes the grant."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.store.db import db
from idp.store.models import AuditEvent, Token
from tests.faults import DriverSpy, driver_error
from tests.oidc.test_token import exchange


def refresh(hub, token: str, client: tuple[str, str]):
    return hub.token({"grant_type": "refresh_token", "refresh_token": token}, auth=client)


def events(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.event).order_by(AuditEvent.id)))


def live_refresh_tokens(app) -> int:
    with app.app_context():
        rows = db.session.scalars(select(Token).where(Token.refresh_revoked.is_(False)))
        return len(list(rows))


def signed_in(hub) -> tuple[tuple[str, str], dict]:
    client_id, secret = hub.add_client()
    hub.add_user()
    first = exchange(hub, hub.code_for(client_id), client_id, secret)
    assert first.status_code == 200, first.get_json()
    return (client_id, secret), first.get_json()


def userinfo(hub, access_token: str) -> int:
    headers = {"Authorization": f"Bearer {access_token}"}
    return hub.web.get("/userinfo", headers=headers).status_code


def test_a_client_that_never_read_the_answer_retries_and_keeps_its_grant(hub, app):
    client, first = signed_in(hub)
    lost = refresh(hub, first["refresh_token"], client)  # the answer the client never read
    assert lost.status_code == 200
    again = refresh(hub, first["refresh_token"], client)
    assert again.status_code == 200, again.get_json()
    body = again.get_json()
    # The pair that rotation made, not a second family member; a fresh ID token with it.
    assert body["refresh_token"] == lost.get_json()["refresh_token"]
    assert body["access_token"] == lost.get_json()["access_token"]
    assert body["id_token"] and 0 < body["expires_in"] <= 3600
    assert userinfo(hub, body["access_token"]) == 200
    onward = refresh(hub, body["refresh_token"], client)
    assert onward.status_code == 200 and userinfo(hub, onward.get_json()["access_token"]) == 200
    assert "refresh_reuse" not in events(app) and "refresh_retry" in events(app)
    assert live_refresh_tokens(app) == 1


def test_reuse_outside_the_retry_window_still_revokes_the_grant(hub, app, clock):
    client, first = signed_in(hub)
    second = refresh(hub, first["refresh_token"], client).get_json()
    clock.advance(app.config["IDP"].tokens.refresh_retry_window + 1)
    reuse = refresh(hub, first["refresh_token"], client)
    assert reuse.status_code == 400 and reuse.get_json()["error"] == "invalid_grant"
    assert refresh(hub, second["refresh_token"], client).get_json()["error"] == "invalid_grant"
    assert userinfo(hub, second["access_token"]) == 401
    assert "refresh_reuse" in events(app)


def test_reuse_after_the_new_pair_was_used_revokes_even_within_the_window(hub, app):
    """The new pair was used, so its answer did arrive: the old token is in a thief's hands."""
    client, first = signed_in(hub)
    second = refresh(hub, first["refresh_token"], client).get_json()
    third = refresh(hub, second["refresh_token"], client).get_json()
    reuse = refresh(hub, first["refresh_token"], client)
    assert reuse.get_json()["error"] == "invalid_grant"
    assert userinfo(hub, third["access_token"]) == 401
    assert "refresh_reuse" in events(app)


def test_a_retry_by_another_client_is_refused_and_revokes(hub, app):
    client, first = signed_in(hub)
    second = refresh(hub, first["refresh_token"], client).get_json()
    other = hub.add_client(name="Hệ thống khác")
    assert refresh(hub, first["refresh_token"], other).get_json()["error"] == "invalid_grant"
    assert userinfo(hub, second["access_token"]) == 401


def test_with_no_retry_window_every_reuse_revokes(hub, app):
    app.config["IDP"] = app.config["IDP"].replace(
        tokens=app.config["IDP"].tokens.__class__(refresh_retry_window=0)
    )
    client, first = signed_in(hub)
    second = refresh(hub, first["refresh_token"], client)
    assert second.status_code == 200, second.get_data(as_text=True)
    assert refresh(hub, first["refresh_token"], client).get_json()["error"] == "invalid_grant"
    assert userinfo(hub, second.get_json()["access_token"]) == 401


class FailingTokenInsert:
    """While `on`, every write of a token row fails in the driver, as with the database gone."""

    on = False

    def __call__(self, cursor, sql: str) -> None:  # noqa: ANN001
        if self.on and "INSERT INTO tokens" in sql:
            raise driver_error(cursor)


@pytest.fixture
def failing_token_insert(app):
    with app.app_context():
        engine = db.engine
    fault = FailingTokenInsert()
    with DriverSpy(engine, fault):
        yield fault


def test_a_refresh_that_fails_to_write_the_new_pair_uses_nothing_up(hub, app, failing_token_insert):
    client, first = signed_in(hub)
    failing_token_insert.on = True
    failed = refresh(hub, first["refresh_token"], client)
    assert failed.status_code == 503
    assert failed.get_json()["error"] == "temporarily_unavailable"
    failing_token_insert.on = False  # the database is back
    again = refresh(hub, first["refresh_token"], client)
    assert again.status_code == 200, again.get_json()
    assert userinfo(hub, again.get_json()["access_token"]) == 200
    assert "refresh_reuse" not in events(app) and "refresh_retry" not in events(app)
    assert live_refresh_tokens(app) == 1


def test_a_code_exchange_that_fails_to_write_its_tokens_does_not_spend_the_code(
    hub, app, failing_token_insert
):
    client_id, secret = hub.add_client()
    hub.add_user()
    code = hub.code_for(client_id)
    failing_token_insert.on = True
    failed = exchange(hub, code, client_id, secret)
    assert failed.status_code == 503
    failing_token_insert.on = False
    again = exchange(hub, code, client_id, secret)
    assert again.status_code == 200, again.get_json()
    assert userinfo(hub, again.get_json()["access_token"]) == 200
    assert "code_replay" not in events(app)
