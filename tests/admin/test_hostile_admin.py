"""Hostile and malformed input on the console, the API and registration: a clear 4xx, never a 500."""

from __future__ import annotations

import pytest

from .test_api import add_service, service_token
from .test_console import signed_in, step_up


@pytest.mark.parametrize(
    "path",
    [
        "/admin/users?q=" + "x" * 5000,
        "/admin/users?q=%25%27%22%3Cscript%3E&page=abc",
        "/admin/clients?page=-5",
        "/admin/clients?page=99999999999999999999",
        "/admin/audit?from=2026-02-30&to=x",
        "/admin/audit?user=" + "é" * 300,
        "/admin/audit.csv?from=1999-01-01&event=%00",
        "/admin/clients/" + "a" * 300,
        "/admin/users/%E2%80%AE",
        "/staff/users?q=%FF",
    ],
)
def test_console_answers_hostile_queries_without_a_server_error(hub, path):
    web = step_up(hub, signed_in(hub, "quantri09", ["admin"], phone="0912345677"))
    assert web.get(path).status_code < 500, path


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("GET", "/users/" + "s" * 70, None),
        ("GET", "/clients?limit=999999", None),
        ("PATCH", "/clients/nope", {"name": None}),
        ("POST", "/clients", {"name": "X", "redirect_uris": [None, 3, {"a": 1}]}),
        ("POST", "/clients", {"name": "X" * 10_000, "redirect_uris": ["https://x.example/cb"]}),
        (
            "POST",
            "/clients",
            {"name": "X", "redirect_uris": ["https://x.example/cb"], "grant_types": [["nested"]]},
        ),  # fmt: skip
        ("DELETE", "/users/x/links/0", None),
    ],
)
def test_api_answers_hostile_bodies_without_a_server_error(hub, method, path, body):
    client_id, secret = add_service(hub)
    token = service_token(hub, client_id, secret)["access_token"]
    response = hub.web.open(
        "/admin/api/v1" + path, method=method, json=body,
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    assert 400 <= response.status_code < 500 and response.is_json, response.status_code
