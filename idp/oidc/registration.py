"""Dynamic client registration (RFC 7591) and its management protocol (RFC 7592), on Authlib's
endpoints: POST /oauth/register with the initial access token; GET, PUT and DELETE
/oauth/register/<client_id> with the registration access token returned at registration.

Off unless `[registration] enabled`. Registered metadata goes through the same checks as the
admin console's (exact https redirect URIs, no fragments or wildcards, known scopes within
`registration.max_scope`), plus the network guard: no URI may point at loopback or private
addresses unless `registration.allow_private_uris`. Secrets and registration tokens are random
256-bit values stored as SHA-256.
"""

from __future__ import annotations

import hmac
import os

from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint, InvalidClientMetadataError
from authlib.oauth2.rfc7592 import ClientConfigurationEndpoint
from flask import abort, current_app
from flask import request as flask_request

from ..admin import client_admin
from ..netguard import internal_address_problem
from ..security import new_secret, sha256_hex
from ..store import audit, clients
from ..store.db import db
from .blueprint import bp
from .discovery import provider_metadata

EXTRA_FIELDS = ("post_logout_redirect_uris", "backchannel_logout_uri", "frontchannel_logout_uri")
CALLED_BY_HUB = ("backchannel_logout_uri", "jwks_uri")


class RegistrationCredential:
    """What authenticated a registration request; RFC 7592 asks it to name its client."""

    def __init__(self, client_id: str | None = None) -> None:
        self.client_id = client_id

    def check_client(self, client) -> bool:  # noqa: ANN001
        return self.client_id == client.client_id


def _config():  # noqa: ANN202
    return current_app.config["IDP"].registration


def _bearer(req) -> str:  # noqa: ANN001
    header = req.headers.get("Authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else ""


def _metadata_values(metadata: dict, data: dict) -> dict:
    """RFC 7591 metadata (and the logout URIs OpenID Connect adds) as client_admin fields."""
    values = {
        "name": metadata.get("client_name") or "",
        "redirect_uris": metadata.get("redirect_uris", []),
        "token_endpoint_auth_method": metadata.get(
            "token_endpoint_auth_method", "client_secret_basic"
        ),
        "grant_types": metadata.get("grant_types", ["authorization_code"]),
        "scope": metadata.get("scope") or "openid",
        "jwks_uri": metadata.get("jwks_uri"),
    }
    for name in EXTRA_FIELDS:
        if name in data:
            values[name] = data[name]
    return values


def _checked(values: dict, existing=None) -> dict:  # noqa: ANN001
    """client_admin's checks, the registration policy and the network guard, or the error."""
    if set(values["grant_types"]) - {"authorization_code", "refresh_token"}:
        raise InvalidClientMetadataError("grant_types: authorization_code and refresh_token only")
    if not values["name"]:
        raise InvalidClientMetadataError("client_name is required")
    allowed = set(_config().max_scope.split())
    if set(str(values["scope"]).split()) - allowed:
        raise InvalidClientMetadataError("scope: within " + " ".join(sorted(allowed)))
    checked = client_admin.check(values, existing=existing)
    if checked.errors:
        name, problem = next(iter(checked.errors.items()))
        raise InvalidClientMetadataError(f"{name}: {problem}")
    if not _config().allow_private_uris:
        values = checked.values
        uris = [(name, uri) for name in client_admin.URI_LISTS for uri in values.get(name) or []]
        uris += [(name, values[name]) for name in client_admin.URI_FIELDS if values.get(name)]
        for name, uri in uris:
            problem = internal_address_problem(uri, called_by_hub=name in CALLED_BY_HUB)
            if problem:
                raise InvalidClientMetadataError(f"{name}: {uri} {problem}")
    return checked.values


class HubRegistrationEndpoint(ClientRegistrationEndpoint):
    def authenticate_token(self, req):  # noqa: ANN001, ANN201
        expected = os.environ.get(_config().initial_access_token_env, "")
        given = _bearer(req)
        if len(expected) < 32 or not given:
            raise InvalidTokenError()  # RFC 7591 §3: answered as RFC 6750 says, a 401
        if not hmac.compare_digest(sha256_hex(given), sha256_hex(expected)):
            raise InvalidTokenError()
        return RegistrationCredential()

    def get_server_metadata(self) -> dict:
        return provider_metadata()

    def generate_client_id(self, req) -> str:  # noqa: ANN001
        return clients.new_client_id()

    def generate_client_secret(self, req) -> str:  # noqa: ANN001
        return new_secret()

    def generate_client_info(self, req) -> dict:  # noqa: ANN001
        info = super().generate_client_info(req)
        if req.payload.data.get("token_endpoint_auth_method") in ("none", "private_key_jwt"):
            info.pop("client_secret", None)  # no secret is made for these clients
            info.pop("client_secret_expires_at", None)
        return info

    def save_client(self, client_info: dict, client_metadata: dict, req):  # noqa: ANN001, ANN201
        values = _checked(_metadata_values(client_metadata, req.payload.data))
        secret = client_info.get("client_secret")
        client, _ = clients.create(
            name=values["name"],
            redirect_uris=values["redirect_uris"],
            auth_method=values.get("token_endpoint_auth_method", "client_secret_basic"),
            client_id=client_info["client_id"],
            client_secret_hash=sha256_hex(secret) if secret else None,
            source="dcr",
        )
        for name, value in values.items():
            setattr(client, name, value)
        if client.token_endpoint_auth_method in ("none", "private_key_jwt"):
            client.client_secret_hash = None
        req.registration_token = new_secret()
        client.registration_token_hash = sha256_hex(req.registration_token)
        audit.record("client_registered", client_id=client.client_id, by="dcr", commit=False)
        db.session.commit()
        clients.forget(client.client_id)
        return client

    def generate_client_registration_info(self, client, req) -> dict:  # noqa: ANN001
        return {
            "registration_client_uri": _config_uri(client.client_id),
            "registration_access_token": req.registration_token,
        }


def _config_uri(client_id: str) -> str:
    return f"{current_app.config['IDP'].issuer}/oauth/register/{client_id}"


def _introspect(client) -> dict:  # noqa: ANN001
    data = {
        "client_id": client.client_id,
        "client_name": client.name,
        "redirect_uris": list(client.redirect_uris or []),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris or []),
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "grant_types": list(client.grant_types or []),
        "response_types": ["code"],
        "scope": client.scope,
        "client_id_issued_at": client.created_at,
    }
    for name in ("backchannel_logout_uri", "frontchannel_logout_uri", "jwks_uri"):
        if getattr(client, name):
            data[name] = getattr(client, name)
    if client.client_secret_hash:
        data["client_secret_expires_at"] = 0
    return data


class HubClientConfigurationEndpoint(ClientConfigurationEndpoint):
    def authenticate_token(self, req):  # noqa: ANN001, ANN201
        token = _bearer(req)
        client = self.authenticate_client(req)
        if not token:
            raise InvalidTokenError()
        if client is None:
            return RegistrationCredential("-")  # Authlib answers 401 invalid_client
        if client.registration_token_hash and hmac.compare_digest(
            client.registration_token_hash, sha256_hex(token)
        ):
            return RegistrationCredential(client.client_id)
        raise InvalidTokenError()

    def authenticate_client(self, req):  # noqa: ANN001, ANN201
        client_id = (flask_request.view_args or {}).get("client_id", "")
        client = clients.find(client_id) if client_id else None
        return client if client is not None and client.source == "dcr" else None

    def revoke_access_token(self, req, token) -> None:  # noqa: ANN001
        """Nothing to revoke: a registration token lives and dies with its client."""

    def check_permission(self, client, req) -> bool:  # noqa: ANN001
        return True

    def get_server_metadata(self) -> dict:
        return provider_metadata()

    def introspect_client(self, client) -> dict:  # noqa: ANN001
        return _introspect(client)

    def generate_client_registration_info(self, client, req) -> dict:  # noqa: ANN001
        return {
            "registration_client_uri": _config_uri(client.client_id),
            "registration_access_token": _bearer(req),
        }

    def update_client(self, client, client_metadata: dict, req):  # noqa: ANN001, ANN201
        values = _checked(_metadata_values(client_metadata, req.payload.data), existing=client)
        client_admin.update(client, values, by="dcr")
        return client

    def delete_client(self, client, req) -> None:  # noqa: ANN001
        client_admin.delete(client, by="dcr")


def init_app(server) -> None:  # noqa: ANN001
    server.register_endpoint(HubRegistrationEndpoint)
    server.register_endpoint(HubClientConfigurationEndpoint)


def _server():  # noqa: ANN202
    return current_app.extensions["idp_oauth"]


@bp.post("/oauth/register")
def register():  # noqa: ANN201
    if not _config().enabled:
        abort(404)
    return _server().create_endpoint_response("client_registration")


@bp.route("/oauth/register/<client_id>", methods=["GET", "PUT", "DELETE"])
def configure(client_id: str):  # noqa: ANN201
    if not _config().enabled or len(client_id) > 64:
        abort(404)
    return _server().create_endpoint_response("client_configuration")
