"""Token revocation (RFC 7009). Revoking a refresh token ends its whole grant (§2.1)."""

from __future__ import annotations

from authlib.oauth2.rfc7009 import RevocationEndpoint

from ..store import audit, tokens
from ..store.records import TokenRecord as Token
from .grants import ALL_CLIENT_AUTH_METHODS


def find_token(token_string: str, hint: str | None) -> Token | None:
    """Look up by the hinted type first, then the other (RFC 7009 §2.1, RFC 7662 §2.1).

    The token record is marked with `presented_as`: which of its two values was presented.
    """
    lookups = [("refresh_token", tokens.by_refresh_token), ("access_token", tokens.by_access_token)]
    if hint != "refresh_token":
        lookups.reverse()
    for kind, lookup in lookups:
        token = lookup(token_string)
        if token is not None:
            token.presented_as = kind
            return token
    return None


class HubRevocationEndpoint(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ALL_CLIENT_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return find_token(token_string, token_type_hint)

    def revoke_token(self, token: Token, request) -> None:  # noqa: ANN001
        if token.presented_as == "refresh_token":
            tokens.revoke_grant(token.grant_id, "revoked")
        else:
            tokens.revoke_access(token)
        audit.record(
            "token_revoked", user=token.user, client_id=token.client_id, kind=token.presented_as
        )
