"""Ending sessions: one place that revokes the session's tokens, notifies its clients through
the back channel, forgets the session, and leaves an audit record."""

from __future__ import annotations

from ..store import audit, clients, tokens, users
from ..store.models import Client
from . import sessions


def end_session(session: sessions.SsoSession, reason: str, by: str | None = None) -> list[Client]:
    """End one SSO session everywhere; returns its clients with a front-channel logout URI."""
    from ..oidc import backchannel  # the oidc package imports this module

    user = users.by_id(session.user_id)
    client_ids = session.clients
    sessions.end(session)
    revoked = tokens.revoke_for_sessions([session.sid])
    owed = backchannel.queue(session.sid, user.subject, client_ids) if user else 0
    audit.record(
        "logout",
        user=user,
        sid=session.sid,
        reason=reason,
        by=by,
        clients=client_ids,
        tokens_revoked=revoked,
        backchannel=owed,
    )
    front = [clients.get(c) for c in client_ids]
    return [c for c in front if c is not None and c.frontchannel_logout_uri]


def end_all_for_user(
    user_id: int, reason: str, by: str | None = None, keep_sid: str | None = None
) -> int:
    """End every session of a user (but `keep_sid`); returns how many ended."""
    ended = 0
    for session in sessions.of_user(user_id):
        if session.sid != keep_sid:
            end_session(session, reason, by)
            ended += 1
    return ended
