"""Provider metadata (OpenID Connect Discovery 1.0 §3, RFC 8414). Everything listed here works."""

from __future__ import annotations

from flask import current_app, jsonify

from ..login import assurance
from .blueprint import bp
from .claims import SUPPORTED_CLAIMS, SUPPORTED_SCOPES
from .grants import ALL_CLIENT_AUTH_METHODS


def provider_metadata() -> dict:
    config = current_app.config["IDP"]
    issuer = config.issuer
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "end_session_endpoint": f"{issuer}/logout",
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": True,
        "frontchannel_logout_session_supported": True,
        "scopes_supported": list(SUPPORTED_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": ALL_CLIENT_AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256", "PS256"],
        "revocation_endpoint_auth_methods_supported": ALL_CLIENT_AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": [
            m for m in ALL_CLIENT_AUTH_METHODS if m != "none"
        ],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": SUPPORTED_CLAIMS,
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
        "prompt_values_supported": ["none", "login", "consent"],
        "acr_values_supported": assurance.levels(),
        "ui_locales_supported": ["vi", "en"],
        "claims_locales_supported": ["vi"],
        "authorization_response_iss_parameter_supported": True,
        **(
            {"registration_endpoint": f"{issuer}/oauth/register"}
            if config.registration.enabled
            else {}
        ),
    }


@bp.route("/.well-known/openid-configuration")
def openid_configuration():  # noqa: ANN201
    cache = current_app.extensions.setdefault("idp_discovery", {})
    if "doc" not in cache:
        cache["doc"] = provider_metadata()
    response = jsonify(cache["doc"])
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.route("/.well-known/oauth-authorization-server")
def oauth_authorization_server():  # noqa: ANN201
    return openid_configuration()
