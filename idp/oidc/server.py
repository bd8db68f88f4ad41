"""Wiring of Authlib's authorization server: clients, token generation, storage, extensions."""

from __future__ import annotations

import secrets
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import Flask, current_app

from ..observability import TOKENS
from ..store import clients, tokens
from .client_auth import PrivateKeyJwtAuth, safe_client_secret_basic
from .grants import (
    HubAuthorizationCodeGrant,
    HubClientCredentialsGrant,
    HubCodeChallenge,
    HubOpenIDCode,
    HubOpenIDRefresh,
    HubRefreshTokenGrant,
    honour_concurrent_revocation,
)


class ParamsRequest(OAuth2Request):
    """An authorization request rebuilt from stored, single-valued parameters."""

    def __init__(self, uri: str, params: dict[str, str]) -> None:
        super().__init__("GET", uri)
        self.payload = BasicOAuth2Payload(params)
        self._params = params
        self.claims_request = None

    @property
    def args(self) -> dict[str, str]:
        return self._params

    @property
    def form(self) -> dict[str, str]:
        return {}


class HubIssuerParameter(IssuerParameter):
    """RFC 9207: `iss` in every authorization response, errors included."""

    def get_issuer(self) -> str:
        return current_app.config["IDP"].issuer


class HubAuthorizationServer(AuthorizationServer):
    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return super().create_oauth2_request(request)

    def query_client(self, client_id: str):  # noqa: ANN201
        return clients.get(client_id)

    def token_row(self, token: dict, request: OAuth2Request) -> dict:
        """The row that stores a token response: its grant, session and sign-in facts."""
        cfg = current_app.config["IDP"].tokens
        source = request.authorization_code or request.refresh_token
        return tokens.row(
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token"),
            client_id=request.client.client_id,
            user_id=request.user.id if request.user is not None else None,
            scope=token.get("scope", ""),
            grant_id=source.grant_id if source is not None else secrets.token_urlsafe(16),
            access_ttl=cfg.access_token_ttl,
            refresh_ttl=cfg.refresh_token_ttl,
            sid=getattr(source, "sid", None),
            auth_time=getattr(source, "auth_time", None),
            acr=getattr(source, "acr", None),
            amr=getattr(source, "amr", None),
            claims_request=getattr(source, "claims_request", None),
        )

    def save_token(self, token: dict, request: OAuth2Request) -> None:
        TOKENS.labels(grant_type=request.payload.grant_type or "?").inc()
        row = self.token_row(token, request)
        tokens.insert(row)
        honour_concurrent_revocation(row["grant_id"], row["sid"])


def generate_bearer_token(
    grant_type: str,
    client,
    user=None,
    scope=None,  # noqa: ANN001
    expires_in=None,
    include_refresh_token=True,
) -> dict:
    """Opaque random tokens; only their digests are stored."""
    cfg = current_app.config["IDP"].tokens
    token = {
        "token_type": "Bearer",
        "access_token": secrets.token_urlsafe(32),
        "expires_in": expires_in or cfg.access_token_ttl,
        "scope": scope or "",
    }
    if include_refresh_token:
        token["refresh_token"] = secrets.token_urlsafe(32)
    return token


def create_server(app: Flask) -> HubAuthorizationServer:
    server = HubAuthorizationServer()
    server.init_app(app)
    server.register_token_generator("default", generate_bearer_token)
    server.register_grant(
        HubAuthorizationCodeGrant, [HubCodeChallenge(required=True), HubOpenIDCode()]
    )
    server.register_grant(HubRefreshTokenGrant, [HubOpenIDRefresh()])
    server.register_grant(HubClientCredentialsGrant)
    server.register_client_auth_method("private_key_jwt", PrivateKeyJwtAuth())
    server.register_client_auth_method("client_secret_basic", safe_client_secret_basic)
    server.register_extension(HubIssuerParameter())
    from .end_session import HubEndSessionEndpoint
    from .introspection import HubIntrospectionEndpoint
    from .revocation import HubRevocationEndpoint
    from .userinfo import create_userinfo_endpoint

    server.register_endpoint(HubRevocationEndpoint)
    server.register_endpoint(HubIntrospectionEndpoint)
    server.register_endpoint(create_userinfo_endpoint())
    server.register_endpoint(HubEndSessionEndpoint)
    from . import registration

    registration.init_app(server)
    return server
