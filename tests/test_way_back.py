"""The way back to a sign-in is kept only for the browser that started it: a register page
opened with another browser's interaction id links to the hub's own sign-in, names no client,
and the attempt is audited."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select

from idp.store import db
from idp.store.models import AuditEvent


def test_a_sign_in_of_another_browser_gives_no_way_back(hub, app):
    """The register page opened with someone else's interaction id (a link shared or
    guessed) remembers nothing for this browser: no link to that sign-in, audited."""
    client_id, _ = hub.add_client(name="Hệ thống Thuế")
    location = hub.login_url(client_id)
    iid = urlsplit(location).path.split("/")[2]
    mine = hub.web.get(f"/register?ix={iid}").get_data(as_text=True)
    assert f"/interaction/{iid}/login" in mine and "Hệ thống Thuế" in mine

    other = app.test_client()
    theirs = other.get(f"/register?ix={iid}").get_data(as_text=True)
    assert iid not in theirs and "Hệ thống Thuế" not in theirs
    assert 'id="back-to-sign-in" href="/login"' in theirs
    with app.app_context():
        events = db.session.scalars(select(AuditEvent.event)).all()
    assert "interaction_foreign_browser" in events
