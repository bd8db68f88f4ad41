"""Only this package talks to the database and to Redis."""

from .db import db
from .kv import RedisStore, ShortLivedStore, SqlStore, StoreUnavailable

__all__ = ["db", "RedisStore", "ShortLivedStore", "SqlStore", "StoreUnavailable", "kv"]


def kv() -> ShortLivedStore:
    """The short-lived store of the current app."""
    from flask import current_app

    return current_app.extensions["idp_kv"]
