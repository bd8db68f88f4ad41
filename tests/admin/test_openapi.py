"""schemathesis against /admin/api/openapi.json: generated requests (valid and not) to every
operation never get a 5xx, and every answer matches the document (status, type, schema)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from idp.store import federation
from idp.store import users as store_users

from .test_api import add_service, service_token

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def backend():
    return "sqlite"  # generated cases are many; the store behaves the same (test_api runs both)


@pytest.fixture
def seeded(app, hub):
    """A hub with a service token, a few clients, accounts and a national link."""
    client_id, secret = add_service(hub)
    hub.add_client(name="Hệ thống Một cửa điện tử")
    hub.add_client(name="Y tế", redirect_uris=["http://127.0.0.1:9000/cb"])
    hub.add_user()
    hub.add_user(username="doanhnghiep01", account_type="organization", tax_code="0101234567")
    with app.app_context():
        federation.link(store_users.by_username("citizen01"), "dvcqg", "s-1", {}, "LoA2")
    app.config["ADMIN_TEST_TOKEN"] = service_token(hub, client_id, secret)["access_token"]
    return app


@pytest.fixture
def api_schema(seeded):
    config = schemathesis.config.SchemathesisConfig()
    config.projects.default.generation.update(
        modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
    )
    return schemathesis.openapi.from_wsgi("/admin/api/openapi.json", seeded, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_admin_api_matches_its_openapi_document(case, seeded):
    token = seeded.config["ADMIN_TEST_TOKEN"]
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)


def test_document_is_openapi_3_1_with_the_client_credentials_scheme(client_for_docs):
    doc = client_for_docs.get("/admin/api/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0"
    flow = doc["components"]["securitySchemes"]["clientCredentials"]["flows"]
    assert flow["clientCredentials"]["tokenUrl"].endswith("/token")
    assert {"/clients", "/clients/{client_id}", "/users", "/users/{sub}"} <= set(doc["paths"])


@pytest.fixture
def client_for_docs(app):
    return app.test_client()
