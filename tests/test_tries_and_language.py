"""Tries left before a lock on the password page, and the browser's Accept-Language on a
first visit (a chosen language still wins)."""

from __future__ import annotations


def test_tries_left_counts_down_on_the_password_page(hub, app):
    client_id, _ = hub.add_client(first_party=True)
    hub.add_user()
    limit = app.config["IDP"].login.max_attempts_per_user
    first = hub.sign_in(client_id, password="wrong-password!").get_data(as_text=True)
    second = hub.sign_in(client_id, password="wrong-password!").get_data(as_text=True)
    assert f"Còn {limit - 1} lần thử" in first
    assert f"Còn {limit - 2} lần thử" in second
    # An unknown name counts the same way: the number tells nobody whether it exists.
    unknown = hub.sign_in(client_id, username="khongco99", password="wrong-password!")
    assert f"Còn {limit - 1} lần thử" in unknown.get_data(as_text=True)


def test_accept_language_on_a_first_visit_and_the_chosen_language_wins(hub):
    english = hub.web.get("/register", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in english.get_data(as_text=True)
    mixed = hub.web.get("/register", headers={"Accept-Language": "fr;q=1.0, vi;q=0.8, en;q=0.5"})
    assert '<html lang="vi">' in mixed.get_data(as_text=True)
    assert '<html lang="vi">' in hub.web.get("/register").get_data(as_text=True)  # config
    hub.web.get("/?lang=vi")  # a chosen language (cookie) beats the browser's
    chosen = hub.web.get("/register", headers={"Accept-Language": "en-US"})
    assert '<html lang="vi">' in chosen.get_data(as_text=True)
