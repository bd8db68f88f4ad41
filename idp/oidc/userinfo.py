"""UserInfo endpoint (OpenID Connect Core §5.3): GET or POST, bearer token in the
Authorization header or, for POST, in the form body (RFC 6750 §2.1-2.2)."""

from __future__ import annotations

from authlib.integrations.flask_oauth2 import ResourceProtector, current_token
from authlib.oauth2.rfc6749 import InvalidRequestError, MissingAuthorizationError
from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError
from authlib.oidc.core import UserInfo, UserInfoEndpoint
from flask import current_app
from flask import request as flask_request

from ..store import tokens
from ..store.records import TokenRecord as Token
from . import claims as claims_mod


class HubBearerTokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> Token | None:
        return tokens.by_access_token(token_string)

    def validate_token(self, token, scopes, request):  # noqa: ANN001, ANN201
        super().validate_token(token, scopes, request)
        # A client-credentials token has no user whose claims could be given.
        if token.user is None or not token.user.active or token.get_client() is None:
            raise InvalidTokenError(realm=self.realm)


class HubResourceProtector(ResourceProtector):
    def parse_request_authorization(self, request):  # noqa: ANN001, ANN201
        header = request.headers.get("Authorization")
        body_token = None
        if (
            flask_request.method == "POST"
            and flask_request.mimetype == "application/x-www-form-urlencoded"
        ):
            body_token = flask_request.form.get("access_token")
        if header and body_token:
            raise InvalidRequestError("Use only one way to send the access token.")
        if body_token:
            return self.get_token_validator("bearer"), body_token
        if not header:
            raise MissingAuthorizationError(self._default_auth_type, self._default_realm)
        return super().parse_request_authorization(request)


class HubUserInfoEndpoint(UserInfoEndpoint):
    def get_issuer(self) -> str:
        return current_app.config["IDP"].issuer

    def generate_user_info(self, user, scope: str) -> UserInfo:  # noqa: ANN001
        token: Token = current_token._get_current_object()
        requested = (token.claims_request or {}).get("userinfo")
        return UserInfo(claims_mod.user_claims(user, scope, token.get_client(), requested))


def create_userinfo_endpoint() -> HubUserInfoEndpoint:
    protector = HubResourceProtector()
    protector.register_token_validator(HubBearerTokenValidator())
    return HubUserInfoEndpoint(resource_protector=protector)
