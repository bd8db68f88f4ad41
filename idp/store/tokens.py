"""Issued tokens: save, look up by digest, rotate refresh tokens, revoke whole grants."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import bindparam, or_, select, update

from ..clock import now
from ..security import sha256_hex
from . import kv, records
from .db import db, write, write_connection
from .kv import StoreUnavailable
from .models import Token
from .records import TokenRecord

# Built once: constructing a statement costs more than running it on the hot path. Every value
# a row has is named (`row`), so the statement's SQL is the same for every row (`driver`).
_ROW_COLUMNS = (
    "access_token_hash", "refresh_token_hash", "client_id", "user_id", "scope", "grant_id",
    "sid", "auth_time", "acr", "amr", "claims_request", "issued_at", "access_expires_at",
    "refresh_expires_at", "access_revoked", "refresh_revoked",
)  # fmt: skip
_INSERT = Token.__table__.insert().values({name: bindparam(name) for name in _ROW_COLUMNS})


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


# How long a revocation is remembered beside the rows it changed: far longer than any write
# that could be running while it happened.
REVOCATION_MEMORY = 24 * 3600


@contextmanager
def _remembering(entries: list[tuple[str, str]]) -> Iterator[None]:
    """Markers a concurrent token write checks once its row is in (`honour_revocations`),
    written before the revocation's UPDATE (the block).

    On PostgreSQL an UPDATE cannot see a row that another transaction is inserting at that
    moment (READ COMMITTED): a refresh rotation or code exchange racing a logout or a
    revocation would write a pair the revocation never touches. The marker is written before
    the UPDATE, and the writer reads it after its commit, so one of the two always sees the
    other: the UPDATE sees the committed row, or the writer sees the marker. With the
    short-lived store down the rows there are still revoked, then the error is raised (the
    caller answers 503 and its retry writes the markers).
    """
    missed = None
    try:
        if entries:
            kv().put_many([(key, {"reason": reason}, REVOCATION_MEMORY) for key, reason in entries])
    except StoreUnavailable as exc:
        missed = exc
    yield
    if missed is not None:
        raise missed


def honour_revocations(grant_id: str, sid: str | None) -> None:
    """After writing tokens of `grant_id` (in session `sid`): if the grant or the session was
    revoked while they were being written, revoke them too."""
    keys = [f"grant-revoked:{grant_id}"] + ([f"sid-revoked:{sid}"] if sid else [])
    marker = next((m for m in kv().get_many(keys) if m), None)
    if marker:
        revoke_grant(grant_id, str(marker.get("reason") or "revoked")[:16], remember=False)


def revoke_grant(grant_id: str, reason: str = "revoked", remember: bool = True) -> int:
    """Revoke every access and refresh token of one authorization grant; remembered (see
    `_remembering`) unless the caller means it only for the rows there now (a code
    whose tokens could not be delivered goes back to the store, and its retry may write them)."""
    with _remembering([(f"grant-revoked:{grant_id}", reason)] if remember else []):
        result = db.session.execute(
            update(Token)
            .where(Token.grant_id == grant_id)
            .values(access_revoked=True, refresh_revoked=True, refresh_revoked_reason=reason)
        )
        db.session.commit()
    return result.rowcount


def revoke_for_user(user_id: int, reason: str = "revoked", keep_sid: str | None = None) -> int:
    """Revoke every grant of a user that still has a live access or refresh token (a locked
    account, or every session ended), but those of the session `keep_sid`, in one statement;
    returns how many token rows changed. Grants of sessions that already ended on their own,
    and grants whose access token alone was revoked (RFC 7009), go too."""
    live = select(Token.grant_id).where(
        Token.user_id == user_id,
        or_(Token.access_revoked.is_(False), Token.refresh_revoked.is_(False)),
    )
    if keep_sid is not None:
        live = live.where(or_(Token.sid.is_(None), Token.sid != keep_sid))
    grants = sorted(set(db.session.scalars(live.distinct())))
    with _remembering([(f"grant-revoked:{g}", reason) for g in grants]):
        result = db.session.execute(
            update(Token)
            .where(Token.grant_id.in_(live))
            .values(access_revoked=True, refresh_revoked=True, refresh_revoked_reason=reason)
        )
        db.session.commit()
    return result.rowcount


def revoke_for_sessions(sids: list[str]) -> int:
    """Revoke every token issued in these SSO sessions, and remember it for the tokens being
    written in them right now (a code exchange or a refresh racing the logout)."""
    if not sids:
        return 0
    with _remembering([(f"sid-revoked:{sid}", "logout") for sid in sids]):
        result = db.session.execute(
            update(Token)
            .where(or_(*[Token.sid == sid for sid in sids]))
            .values(access_revoked=True, refresh_revoked=True, refresh_revoked_reason="logout")
        )
        db.session.commit()
    return result.rowcount
