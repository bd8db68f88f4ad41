"""`private_key_jwt` client authentication (RFC 7523 §2.2, OIDC Core §9).

The client signs an assertion with its own key; the hub checks it against the client's
registered JWKS (inline, or fetched from its `jwks_uri`, cached and refetched on an unknown
key) and remembers each `jti` so an assertion cannot be replayed.
"""

from __future__ import annotations

import json
import logging
import threading
import time

import requests
from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_basic
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from flask import current_app
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from ..clock import now
from ..security import sha256_hex
from ..store import kv

log = logging.getLogger(__name__)

JWKS_CACHE_SECONDS = 300
JWKS_FETCH_TIMEOUT = 5
MAX_JWKS_BYTES = 64 * 1024
_jwks_cache: dict[str, tuple[float, dict]] = {}
_lock = threading.Lock()


def fetch_jwks(uri: str, force: bool = False) -> dict:
    """The client's published keys, cached per process."""
    hit = _jwks_cache.get(uri)
    if hit and not force and time.monotonic() - hit[0] < JWKS_CACHE_SECONDS:
        return hit[1]
    try:
        response = requests.get(uri, timeout=JWKS_FETCH_TIMEOUT, allow_redirects=False, stream=True)
        response.raise_for_status()
        body = response.raw.read(MAX_JWKS_BYTES + 1, decode_content=True)
        if len(body) > MAX_JWKS_BYTES:
            raise ValueError("JWKS document too large")
        data = json.loads(body)
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise ValueError("not a JWKS document")
    except (requests.RequestException, ValueError) as exc:
        log.warning("cannot fetch client JWKS from %s: %s", uri, exc)
        raise InvalidClientError(description="The client's JWKS could not be fetched.") from exc
    with _lock:
        _jwks_cache[uri] = (time.monotonic(), data)
    return data


def safe_client_secret_basic(query_client, request):  # noqa: ANN001, ANN201
    """Authlib's client_secret_basic, but credentials that are not UTF-8 fail authentication
    instead of raising (RFC 6749 §2.3.1 wants them form-encoded UTF-8)."""
    try:
        return authenticate_client_secret_basic(query_client, request)
    except (UnicodeDecodeError, ValueError):
        return None


class PrivateKeyJwtAuth(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self) -> None:
        super().__init__(validate_jti=True, leeway=30)

    def get_audiences(self) -> list[str]:
        issuer = current_app.config["IDP"].issuer
        return [issuer, f"{issuer}/token"]

    def validate_jti(self, claims: dict, jti: str) -> bool:
        if not isinstance(jti, str) or len(jti) > 256:
            return False
        lifetime = (
            int(claims.get("exp", 0)) - now() + self.leeway
            if isinstance(claims.get("exp"), int)
            else 0
        )
        ttl = min(max(lifetime, 60), 24 * 3600)
        return kv().add(f"jti:{claims['sub']}:{sha256_hex(jti)}", {}, ttl)

    def resolve_client_public_key(self, client) -> KeySet:  # noqa: ANN001
        try:
            if client.jwks:
                return KeySet.import_key_set(client.jwks)
            if client.jwks_uri:
                return KeySet.import_key_set(fetch_jwks(client.jwks_uri))
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise InvalidClientError(description="The client's JWKS is not usable.") from exc
        raise InvalidClientError(description="The client has no registered keys.")

    def process_assertion_claims(self, assertion, resolve_key):  # noqa: ANN001, ANN201
        try:
            return super().process_assertion_claims(assertion, resolve_key)
        except InvalidClientError:
            raise
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise InvalidClientError(description="Invalid client assertion.") from exc
