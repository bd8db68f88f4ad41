"""The grants the hub supports, as Authlib hooks: authorization code (+PKCE, +OpenID) and
refresh token with rotation and reuse detection (RFC 6749 §4.1, §6; RFC 7636; RFC 9700 §4.14;
OpenID Connect Core §3.1, §12).

Codes live in the short-lived store under their digest and are taken atomically, so of many
concurrent redemptions exactly one succeeds. A second redemption revokes every token of that
grant, including ones still being written by the first. Nothing is spent unless its replacement
is written: a code whose tokens could not be written goes back to the store, and a refresh token
is used up in the same statement that writes the new pair; a retry after a lost answer gets that
pair again (`rotation`).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import asdict, dataclass, field

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, InvalidScopeError, grants
from authlib.oauth2.rfc6749.hooks import hooked
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from authlib.oidc.core.grants.util import create_half_hash, is_openid_scope
from flask import current_app, g
from joserfc import jwt
from sqlalchemy.exc import SQLAlchemyError

from ..clock import now
from ..login import sessions
from ..observability import TOKENS
from ..security import sha256_hex
from ..store import audit, kv, records, tokens
from ..store.db import db
from ..store.kv import StoreUnavailable
from ..store.records import TokenRecord as Token
from . import claims as claims_mod
from . import rotation

log = logging.getLogger(__name__)
ALL_CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
# How long a redeemed code is remembered, to recognise (and punish) a replay.
CODE_REPLAY_MEMORY = 24 * 3600


@dataclass
class CodeRecord:
    """What an authorization code stands for (Authlib's AuthorizationCodeMixin)."""

    client_id: str
    user_id: int
    redirect_uri: str
    scope: str
    grant_id: str
    expires_at: int
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    sid: str | None = None
    auth_time: int | None = None
    acr: str | None = None
    amr: list = field(default_factory=list)
    claims_request: dict | None = None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int | None:
        return self.auth_time

    def get_acr(self) -> str | None:
        return self.acr

    def get_amr(self) -> list | None:
        return self.amr or None


def _code_key(code: str) -> str:
    return f"code:{sha256_hex(code)}"


def _tokens_config():
    return current_app.config["IDP"].tokens


def revoke_grant_everywhere(grant_id: str, reason: str) -> None:
    """Revoke a grant's tokens, and those being saved right now (`tokens.revoke_grant`)."""
    tokens.revoke_grant(grant_id, reason)


def honour_concurrent_revocation(grant_id: str, sid: str | None) -> None:
    """Called after writing tokens: a replay, a reuse, a revocation or the session's logout may
    have revoked them while they were being written, and its UPDATE did not see the new rows."""
    tokens.honour_revocations(grant_id, sid)


class HubCodeChallenge(CodeChallenge):
    """PKCE with S256 only; required for public clients at the authorization endpoint too."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):  # noqa: ANN001, ANN201
        request = grant.request
        data = request.payload.data
        challenge = data.get("code_challenge")
        if not challenge and request.client is not None and request.client.is_public:
            raise InvalidRequestError("Public clients must use PKCE ('code_challenge' with S256).")
        if challenge and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256.")
        return super().validate_code_challenge(grant, redirect_uri)


def validate_extra_parameters(grant, redirect_uri):  # noqa: ANN001, ANN201
    """Reject what the hub does not support instead of silently ignoring it."""
    data = grant.request.payload.data
    if "request" in data:
        raise InvalidRequestError(
            "Request objects are not supported.", error="request_not_supported"
        )
    if "request_uri" in data:
        raise InvalidRequestError(
            "Request URIs are not supported.", error="request_uri_not_supported"
        )
    if "registration" in data:
        raise InvalidRequestError(
            "Registration parameter is not supported.", error="registration_not_supported"
        )
    mode = data.get("response_mode")
    if mode and mode != "query":
        raise InvalidRequestError("Only response_mode=query is supported.")
    max_age = data.get("max_age")
    if max_age is not None and (not max_age.isdigit() or len(max_age) > 10):
        raise InvalidRequestError("'max_age' must be a non-negative integer.")
    grant.request.claims_request = claims_mod.parse_claims_parameter(data.get("claims"))


class HubAuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_CLIENT_AUTH_METHODS

    def __init__(self, request, server):  # noqa: ANN001
        super().__init__(request, server)
        self.register_hook(
            "after_validate_authorization_request_payload", validate_extra_parameters
        )

    def save_authorization_code(self, code: str, request) -> None:  # noqa: ANN001
        session = g.get("idp_sso_session")
        data = request.payload.data
        cfg = _tokens_config()
        record = CodeRecord(
            client_id=request.client.client_id,
            user_id=request.user.id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            grant_id=secrets.token_urlsafe(16),
            expires_at=now() + cfg.code_ttl,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            sid=session.sid if session else None,
            auth_time=session.auth_time if session else None,
            acr=session.acr if session else None,
            amr=list(session.amr) if session else [],
            claims_request=getattr(request, "claims_request", None),
        )
        key = _code_key(code)
        entries = [
            (f"codegrant:{key}", {"grant_id": record.grant_id}, CODE_REPLAY_MEMORY),
            (key, asdict(record), cfg.code_ttl + 5),
        ]
        if record.nonce:
            nonce_key = f"nonce:{record.client_id}:{sha256_hex(record.nonce)}"
            entries.append((nonce_key, {}, cfg.id_token_ttl))
        kv().put_many(entries)

    def query_authorization_code(self, code: str, client) -> CodeRecord | None:  # noqa: ANN001
        if not isinstance(code, str) or not code or len(code) > 256:
            return None
        key = _code_key(code)
        raw = kv().take(key)
        self.taken = (key, raw)
        if raw is None:
            marker = kv().get(f"codegrant:{key}")
            if marker:
                revoke_grant_everywhere(marker["grant_id"], "code_replay")
                audit.record("code_replay", client_id=client.client_id, grant_id=marker["grant_id"])
            return None
        record = CodeRecord(**raw)
        if record.client_id != client.client_id or record.expires_at <= now():
            return None
        return record

    def delete_authorization_code(self, authorization_code) -> None:  # noqa: ANN001
        """Nothing to do: the code was taken from the store when it was read."""

    def create_token_response(self):  # noqa: ANN201
        """A code is spent only when its tokens are written: if writing them fails, what was
        written is revoked and the code goes back, so the client's retry works."""
        try:
            return super().create_token_response()
        except (StoreUnavailable, SQLAlchemyError):
            self._give_back()
            raise

    def _give_back(self) -> None:
        record: CodeRecord = self.request.authorization_code
        key, raw = self.taken
        try:
            db.session.rollback()
            tokens.revoke_grant(record.grant_id, "not_delivered", remember=False)
        except SQLAlchemyError:
            db.session.rollback()  # the database is down: it wrote nothing either
        left = record.expires_at - now()
        if left > 0:
            try:
                kv().put(key, raw, left + 5)
            except StoreUnavailable:
                log.warning("a code could not be given back after a failed exchange")

    def authenticate_user(self, authorization_code: CodeRecord):  # noqa: ANN201
        """The person, still active, and still signed in: a code from a session that ended
        since (logout, replaced by another sign-in, ended everywhere) gives no tokens, or they
        would outlive the session that the end was meant to close."""
        user = records.user_by_id(authorization_code.user_id)
        if user is None or not user.active:
            return None
        sid = authorization_code.sid
        if sid and sessions.by_sid(sid) is None:
            audit.record(
                "code_session_ended", user=user, client_id=authorization_code.client_id, sid=sid
            )
            return None
        return user


class HubRefreshTokenGrant(grants.RefreshTokenGrant):
    """Rotation on every use; reuse of a used token revokes the grant, except a retry after a
    lost answer (see `rotation`)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ALL_CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True
    presented: str = ""
    retry: dict | None = None  # the pair a lost rotation made, when this request retries it

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        token = tokens.by_refresh_token(refresh_token)
        if token is None:
            return None
        self.presented = refresh_token
        if token.refresh_revoked:
            if token.refresh_revoked_reason == "rotated":
                return self._used_before(token)
            return None
        if token.is_refresh_expired():
            return None
        return token

    def _used_before(self, token: Token) -> Token | None:
        """A retry after a lost answer gets that answer again; anything else is reuse."""
        client = self.request.client
        outcome = rotation.retry_of(
            token, self.presented, client.client_id, confidential=not client.is_public
        )
        if outcome.pair is not None:
            self.retry = outcome.pair
            return token
        if outcome.theft:
            # A rotated refresh token came back: one of the two holders is a thief.
            revoke_grant_everywhere(token.grant_id, "refresh_reuse")
            audit.record(
                "refresh_reuse",
                user=token.user,
                client_id=token.client_id,
                grant_id=token.grant_id,
            )
        return None

    def authenticate_user(self, refresh_token: Token):  # noqa: ANN201
        user = refresh_token.user
        return user if user is not None and user.active else None

    @hooked
    def create_token_response(self):  # noqa: ANN201
        old = self.request.refresh_token
        user = self.authenticate_user(old)
        if not user:
            raise InvalidRequestError("There is no 'user' for this token.")
        self.request.user = user
        token = self.retry
        if token is None:
            token = self.issue_token(user, old)
            row = self.server.token_row(token, self.request)
            if tokens.rotate(old, row, rotation.seal(self.presented, token)):
                TOKENS.labels(grant_type="refresh_token").inc()
            else:
                # Another request rotated it first: a retry racing its original, or reuse.
                # Read it again: the record holds the row as it was before that rotation.
                old = tokens.by_refresh_token(self.presented) or old
                if self._used_before(old) is None:
                    raise InvalidGrantError("The refresh token has already been used.")
                token = self.retry
        honour_concurrent_revocation(old.grant_id, old.sid)
        if self.retry is not None:
            audit.record("refresh_retry", user=user, client_id=old.client_id, grant_id=old.grant_id)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class HubOpenIDCode(OpenIDCode):
    """ID tokens for the code grant; also used for the refresh grant (OIDC Core §12.2)."""

    def __init__(self) -> None:
        super().__init__(require_nonce=False)

    def exists_nonce(self, nonce: str, request) -> bool:  # noqa: ANN001
        if len(nonce) > 512:
            raise InvalidRequestError("'nonce' is too long.")
        return kv().get(f"nonce:{request.payload.client_id}:{sha256_hex(nonce)}") is not None

    def encode_id_token(self, token: dict, request) -> str:  # noqa: ANN001
        return encode_id_token(token, request)


class HubOpenIDRefresh:
    """Adds a fresh ID token to refresh responses for openid-scoped grants."""

    def __call__(self, grant) -> None:  # noqa: ANN001
        grant.register_hook("after_create_token_response", self.process_token)

    def process_token(self, grant, response):  # noqa: ANN001, ANN201
        _, token, _ = response
        if token.get("scope") and is_openid_scope(token["scope"]):
            token["id_token"] = encode_id_token(token, grant.request)
        return token


def encode_id_token(token: dict, request) -> str:  # noqa: ANN001
    """Sign an ID token with the current key of the client's algorithm (loaded once)."""
    config = current_app.config["IDP"]
    client = request.client
    alg = client.id_token_signed_response_alg or config.tokens.id_token_alg
    key = current_app.extensions["idp_keys"].signing_key(alg)
    issued = now()
    source = request.authorization_code or request.refresh_token
    claims: dict = {
        "iss": config.issuer,
        "aud": client.client_id,
        "iat": issued,
        "exp": issued + config.tokens.id_token_ttl,
    }
    if source is not None:
        if request.authorization_code is not None and source.nonce:
            claims["nonce"] = source.nonce
        for name in ("auth_time", "acr", "sid"):
            value = getattr(source, name, None)
            if value:
                claims[name] = value
        if source.amr:
            claims["amr"] = list(source.amr)
    at_hash = create_half_hash(token["access_token"], alg)
    if at_hash is not None:
        claims["at_hash"] = at_hash.decode()
    requested = (getattr(source, "claims_request", None) or {}).get("id_token")
    claims.update(claims_mod.user_claims(request.user, token["scope"], client, requested))
    return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, claims, key.key, [alg])


class HubClientCredentialsGrant(grants.ClientCredentialsGrant):
    """RFC 6749 §4.4, for automation such as the admin API: a confidential client registered
    for this grant gets an access token for itself (no user, no refresh token), limited to the
    scopes registered for it; asking for none gives all of them."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        allowed = set(scope_to_list(self.request.client.scope) or [])
        requested = scope_to_list(self.request.payload.scope) or []
        if not set(requested) <= allowed:
            raise InvalidScopeError("The client may not ask for this scope.")

    def create_token_response(self):  # noqa: ANN201
        scope = self.request.payload.scope or self.request.client.scope
        token = self.generate_token(
            scope=list_to_scope(scope_to_list(scope)), include_refresh_token=False
        )
        self.save_token(token)
        audit.record(
            "client_credentials_token",
            client_id=self.request.client.client_id,
            scope=token["scope"],
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER
