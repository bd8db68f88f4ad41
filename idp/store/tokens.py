"""Issued tokens: save, look up by digest, rotate refresh tokens, revoke whole grants."""

from __future__ import annotations

from sqlalchemy import bindparam, or_, select, update

from ..clock import now
from ..security import sha256_hex
from . import records
from .db import db, write, write_connection
from .models import Token
from .records import TokenRecord

# Built once: constructing a statement costs more than running it on the hot path.
_INSERT = Token.__table__.insert()


def row(
    *,
    access_token: str,
    refresh_token: str | None,
    client_id: str,
    user_id: int | None,
    scope: str,
    grant_id: str,
    access_ttl: int,
    refresh_ttl: int,
    sid: str | None,
    auth_time: int | None,
    acr: str | None,
    amr: list | None,
    claims_request: dict | None,
) -> dict:
    """The columns of one token row; only the digests of the two tokens are kept."""
    issued = now()
    return {
        "access_token_hash": sha256_hex(access_token),
        "refresh_token_hash": sha256_hex(refresh_token) if refresh_token else None,
        "client_id": client_id,
        "user_id": user_id,
        "scope": scope,
        "grant_id": grant_id,
        "sid": sid,
        "auth_time": auth_time,
        "acr": acr,
        "amr": amr,
        "claims_request": claims_request,
        "issued_at": issued,
        "access_expires_at": issued + access_ttl,
        "refresh_expires_at": issued + refresh_ttl if refresh_token else None,
        "access_revoked": False,
        "refresh_revoked": False,
    }


def insert(values: dict) -> None:
    """Insert one token row (a Core insert: the ORM's unit of work costs more than the row)."""
    write(_INSERT, values)


def save(**fields) -> None:  # noqa: ANN003 - the keywords of `row`
    insert(row(**fields))


def _rotate_statement():  # noqa: ANN202
    """PostgreSQL: claim the old refresh token and insert the new pair in one statement, so an
    autocommit connection still writes both or neither."""
    columns = [c for c in Token.__table__.columns if c.name not in _ROTATION_ONLY]
    claimed = _CLAIM.returning(Token.id).cte("claimed")
    # Named apart from the columns: a parameter named like a column would join the UPDATE.
    values = select(*[bindparam(f"new_{c.name}", type_=c.type) for c in columns])
    values = values.select_from(claimed)
    # RETURNING: the driver reports no row count for an INSERT … SELECT run this way.
    return (
        Token.__table__.insert()
        .from_select([c.name for c in columns], values)
        .returning(Token.__table__.c.id)
    )


_ROTATION_ONLY = ("id", "rotated_at", "successor", "refresh_revoked_reason")
_CLAIM = (
    update(Token)
    .where(Token.id == bindparam("parent_id"), Token.refresh_revoked.is_(False))
    .values(
        refresh_revoked=True,
        refresh_revoked_reason="rotated",
        rotated_at=bindparam("rotated_at"),
        successor=bindparam("successor"),
    )
)
_ROTATE_PG = _rotate_statement()


def rotate(parent: Token | TokenRecord, new_row: dict, successor: str) -> bool:
    """Use a refresh token up and write the pair that replaces it, all or nothing; True for
    exactly one concurrent caller. `successor` is the new pair, sealed (see oidc/rotation)."""
    claim = {"parent_id": parent.id, "rotated_at": new_row["issued_at"], "successor": successor}
    with write_connection() as connection:
        if connection.dialect.name == "postgresql":
            new = {f"new_{name}": value for name, value in new_row.items()}
            return connection.execute(_ROTATE_PG, {**claim, **new}).first() is not None
        # SQLite keeps its transaction: both statements commit together, or neither does (a
        # claim that found the token used already changed nothing).
        if connection.execute(_CLAIM, claim).rowcount != 1:
            return False
        connection.execute(_INSERT, new_row)
        return True


def by_access_token(value: str) -> TokenRecord | None:
    """The token (with its user) an access token value stands for, as read now."""
    if not isinstance(value, str) or not value or len(value) > 512:
        return None
    return records.token_by_access_digest(sha256_hex(value))


def by_refresh_token(value: str) -> TokenRecord | None:
    """The token (with its user) a refresh token value stands for, as read now."""
    if not isinstance(value, str) or not value or len(value) > 512:
        return None
    return records.token_by_refresh_digest(sha256_hex(value))


def revoke_access(token: Token | TokenRecord) -> None:
    db.session.execute(update(Token).where(Token.id == token.id).values(access_revoked=True))
    db.session.commit()


def revoke_grant(grant_id: str, reason: str = "revoked") -> int:
    """Revoke every access and refresh token of one authorization grant."""
    result = db.session.execute(
        update(Token)
        .where(Token.grant_id == grant_id)
        .values(access_revoked=True, refresh_revoked=True, refresh_revoked_reason=reason)
    )
    db.session.commit()
    return result.rowcount


def revoke_for_user(user_id: int, reason: str = "revoked", keep_sid: str | None = None) -> int:
    """Revoke every grant of a user that still has a live access token (a locked account, or
    every session ended), but those of the session `keep_sid`, in one statement; returns how
    many token rows changed. Grants of sessions that already ended on their own go too."""
    live_grants = select(Token.grant_id).where(
        Token.user_id == user_id, Token.access_revoked.is_(False)
    )
    if keep_sid is not None:
        live_grants = live_grants.where(or_(Token.sid.is_(None), Token.sid != keep_sid))
    result = db.session.execute(
        update(Token)
        .where(Token.grant_id.in_(live_grants))
        .values(access_revoked=True, refresh_revoked=True, refresh_revoked_reason=reason)
    )
    db.session.commit()
    return result.rowcount


def revoke_for_sessions(sids: list[str]) -> int:
    if not sids:
        return 0
    result = db.session.execute(
        update(Token)
        .where(or_(*[Token.sid == sid for sid in sids]))
        .values(access_revoked=True, refresh_revoked=True, refresh_revoked_reason="logout")
    )
    db.session.commit()
    return result.rowcount
