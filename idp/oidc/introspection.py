"""Token introspection (RFC 7662) for authenticated confidential clients.

A client may introspect the tokens issued to it; for any other token the answer is
`{"active": false}`, which reveals nothing.
"""

from __future__ import annotations

from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import current_app

from ..store.legacy_subjects import subject_for
from ..store.records import TokenRecord as Token
from .revocation import find_token


class HubIntrospectionEndpoint(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return find_token(token_string, token_type_hint)

    def check_permission(self, token: Token, client, request) -> bool:  # noqa: ANN001
        return token.client_id == client.client_id

    def create_introspection_payload(self, token: Token | None) -> dict:
        if token is None or not token.holder_active:
            return {"active": False}
        if token.presented_as == "refresh_token":
            if token.refresh_revoked or token.is_refresh_expired():
                return {"active": False}
            exp = token.refresh_expires_at
        else:
            if token.is_expired() or token.is_revoked():
                return {"active": False}
            exp = token.access_expires_at
        return self.introspect_token(token, exp)

    def introspect_token(self, token: Token, exp: int | None = None) -> dict:  # noqa: D102
        payload = {
            "active": True,
            "client_id": token.client_id,
            "token_type": "refresh_token" if token.presented_as == "refresh_token" else "Bearer",
            "scope": token.scope,
            # A client-credentials token speaks for its client (RFC 7662 §2.2: sub is optional).
            "sub": subject_for(token.user, token.get_client()) if token.user else token.client_id,
            "aud": token.client_id,
            "iss": current_app.config["IDP"].issuer,
            "iat": token.issued_at,
            "exp": exp or token.access_expires_at,
        }
        if token.user:
            payload["username"] = token.user.username
        for name in ("sid", "acr", "auth_time"):
            value = getattr(token, name)
            if value:
                payload[name] = value
        return payload
