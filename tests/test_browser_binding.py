"""The sign-in pages' state belongs to one browser and one person (threat model §1), in
process: a hub sign-in started by one browser opens nothing in another; a session replaced in
a browser sends its clients' front-channel logout before going on; an account page never acts
on another person's link or session."""

from __future__ import annotations

import re

from sqlalchemy import select

from idp.store import db, federation, users
from idp.store.models import AuditEvent
from tests.conftest import hidden_inputs


def test_a_hub_sign_in_opens_nothing_in_another_browser(hub, app):
    hub.add_user()
    start = hub.web.get("/login?next=/account/sessions")
    login = start.headers["Location"]
    other = app.test_client()
    refused = other.get(login)
    assert refused.status_code == 400 and "trình duyệt khác" in refused.get_data(as_text=True)
    form = hidden_inputs(other.get("/register").get_data(as_text=True))
    posted = other.post(login, data={**form, "username": "citizen01", "password": "Mật-khẩu-123"})
    assert posted.status_code == 400 and "idp_sso" not in posted.headers.get("Set-Cookie", "")
    # In its own browser the same sign-in goes on to the page asked for.
    assert hub.login(login).headers["Location"] == "/account/sessions"
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "interaction_foreign_browser")
        ).all()
    assert len(events) == 2 and events[0].detail["step"] == "interaction"


def test_a_replaced_session_sends_its_front_channel_logout_first(hub, app):
    client_id, _ = hub.add_client(first_party=True, frontchannel_logout_uri="https://rp.example/fc")
    hub.add_user()
    hub.code_for(client_id)
    with app.app_context():
        from idp.login import sessions

        (old,) = sessions.of_user(users.by_username("citizen01").id)
    again = hub.follow(
        hub.authorize(
            response_type="code",
            client_id=client_id,
            redirect_uri="https://rp.example/cb",
            scope="openid",
            prompt="login",
        )
    )
    page = hub.login(again.headers["Location"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert (
        f'src="https://rp.example/fc?iss=http%3A%2F%2F127.0.0.1%3A8000&amp;sid={old.sid}"' in html
    )
    assert "frame-src 'self' https://rp.example;" in page.headers["Content-Security-Policy"]
    assert any(c.startswith("idp_sso=") for c in page.headers.getlist("Set-Cookie"))
    onward = re.search(r'url=(/authorize/resume/[^"]+)"', html).group(1)
    finished = hub.web.get(onward)
    assert finished.status_code == 302 and "code=" in finished.headers["Location"]
    with app.app_context():
        logout = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "logout")).one()
    assert logout.detail["reason"] == "replaced" and logout.detail["sid"] == old.sid


def test_an_account_page_never_removes_another_persons_link(hub, app):
    hub.add_user(username="owner01")
    hub.add_user(username="other01")
    with app.app_context():
        owner = users.by_username("owner01")
        federation.link(owner, "dvcqg", "1:001090000001", {}, "LoA2")
        (link,) = federation.of_user(owner.id)
        link_id = link.id
    other = app.test_client()
    hub.web = other
    hub.follow(hub.login(hub.web.get("/login?next=/account").headers["Location"], "other01"))
    form = hidden_inputs(other.get("/account/links").get_data(as_text=True))
    other.post(f"/account/links/{link_id}/remove", data=form)
    with app.app_context():
        assert [row.id for row in federation.of_user(users.by_username("owner01").id)] == [link_id]


def test_resuming_a_hub_sign_in_as_an_authorization_is_a_page_not_an_error(hub, app):
    start = hub.web.get("/login?next=/account")
    iid = start.headers["Location"].split("/interaction/")[1].split("/")[0]
    resumed = hub.web.get(f"/authorize/resume/{iid}")
    assert resumed.status_code == 400
