"""Read-only rows for the hot paths: a token with its user, and a user by id, read with
SQLAlchemy Core and handed out as plain objects.

Userinfo, introspection, revocation and refresh look up one token per request, and the code
exchange one user. Through the ORM each lookup pays for the session's unit of work, the identity
map and instance state; the profiles put that at two thirds of a userinfo request. The records
here carry the same attribute names as the models (and, for tokens, the same checks through
`TokenChecks`), so the protocol code reads them alike. They are snapshots: nothing writes through
them; changes go through the statements in `tokens` and `users`, by id.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select

from .db import first_row
from .models import Token, TokenChecks, User


def _columns(model) -> tuple[tuple[str, ...], list]:  # noqa: ANN001
    """The model's attribute names and, in the same order, the table columns they map."""
    attributes = model.__mapper__.column_attrs
    return tuple(a.key for a in attributes), [a.columns[0] for a in attributes]


_TOKENS, _USERS = Token.__table__, User.__table__
_TOKEN_FIELDS, _TOKEN_COLUMNS = _columns(Token)
_USER_FIELDS, _USER_COLUMNS = _columns(User)


class UserRecord:
    """A users row: the `User` attributes, read-only."""

    __slots__ = _USER_FIELDS

    def __repr__(self) -> str:
        return f"<UserRecord {self.username}>"


class TokenRecord(TokenChecks):
    """A tokens row with its user (None for a client-credentials token), read-only."""

    __slots__ = (*_TOKEN_FIELDS, "user", "presented_as")

    def __repr__(self) -> str:
        return f"<TokenRecord {self.id}>"


def _fill(record, fields: tuple[str, ...], values) -> None:  # noqa: ANN001
    for name, value in zip(fields, values, strict=True):
        setattr(record, name, value)


def _token_statement(column):  # noqa: ANN001, ANN202
    return (
        select(*_TOKEN_COLUMNS, *_USER_COLUMNS)
        .select_from(_TOKENS.outerjoin(_USERS, _TOKENS.c.user_id == _USERS.c.id))
        .where(column == bindparam("digest"))
    )


# Built once: building a statement costs more than running it.
_BY_ACCESS = _token_statement(_TOKENS.c.access_token_hash)
_BY_REFRESH = _token_statement(_TOKENS.c.refresh_token_hash)
_USER_BY_ID = select(*_USER_COLUMNS).where(_USERS.c.id == bindparam("id"))


def _token(row) -> TokenRecord | None:  # noqa: ANN001
    if row is None:
        return None
    token = TokenRecord()
    split = len(_TOKEN_FIELDS)
    _fill(token, _TOKEN_FIELDS, row[:split])
    token.presented_as = None
    token.user = None
    if token.user_id is not None:  # None: a client-credentials token, which has no user
        token.user = UserRecord()
        _fill(token.user, _USER_FIELDS, row[split:])
    return token


def token_by_access_digest(digest: str) -> TokenRecord | None:
    return _token(first_row(_BY_ACCESS, {"digest": digest}))


def token_by_refresh_digest(digest: str) -> TokenRecord | None:
    return _token(first_row(_BY_REFRESH, {"digest": digest}))


def user_by_id(user_id: int) -> UserRecord | None:
    row = first_row(_USER_BY_ID, {"id": user_id})
    if row is None:
        return None
    user = UserRecord()
    _fill(user, _USER_FIELDS, row)
    return user
