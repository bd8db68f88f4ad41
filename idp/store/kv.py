"""The short-lived store: codes, sessions, interactions, rate limits, replay markers.

One small contract (put / put_many / get / take / add / incr / delete), two implementations:
Redis in production and the SQL database by default, so several workers agree even without Redis.
Values are JSON objects; every entry has a time to live. ``take`` is atomic: of many concurrent
callers exactly one gets the value, which is what makes authorization codes single-use.
"""

from __future__ import annotations

import json
import random
from typing import Any, Protocol

import redis
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from ..clock import now_float
from .driver import prepared
from .models import KvEntry, KvSetMember


class StoreUnavailable(RuntimeError):
    """The short-lived store cannot be reached; requests that need it answer 503."""


class ShortLivedStore(Protocol):
    def put(self, key: str, value: dict[str, Any], ttl: float) -> None: ...

    def put_many(self, entries: list[tuple[str, dict[str, Any], float]]) -> None: ...

    def get(self, key: str) -> dict[str, Any] | None: ...

    def get_many(self, keys: list[str]) -> list[dict[str, Any] | None]: ...

    def take(self, key: str) -> dict[str, Any] | None: ...

    def add(self, key: str, value: dict[str, Any], ttl: float) -> bool: ...

    def incr(self, key: str, ttl: float) -> int: ...

    def count(self, key: str) -> int: ...

    def delete(self, key: str) -> None: ...

    def set_add(self, key: str, member: str, ttl: float) -> None: ...

    def set_members(self, key: str) -> list[str]: ...

    def set_remove(self, key: str, member: str) -> None: ...

    def ping(self) -> bool: ...


class RedisStore:
    """Short-lived state in Redis, every key under one prefix and with a TTL."""

    def __init__(
        self,
        url: str,
        prefix: str = "idp:",
        socket_timeout: float = 2.0,
        connect_timeout: float = 2.0,
    ) -> None:
        self.redis = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
            health_check_interval=30,
        )
        self.prefix = prefix

    def _k(self, key: str) -> str:
        return self.prefix + key

    def _call(self, fn, *args, **kwargs):  # noqa: ANN001, ANN202
        try:
            return fn(*args, **kwargs)
        except redis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from exc

    def put(self, key: str, value: dict[str, Any], ttl: float) -> None:
        self._call(self.redis.set, self._k(key), json.dumps(value), px=_ms(ttl))

    def put_many(self, entries: list[tuple[str, dict[str, Any], float]]) -> None:
        """Several puts in one round trip (key, value, ttl)."""
        pipe = self.redis.pipeline(transaction=False)
        for key, value, ttl in entries:
            pipe.set(self._k(key), json.dumps(value), px=_ms(ttl))
        self._call(pipe.execute)

    def get(self, key: str) -> dict[str, Any] | None:
        return _load(self._call(self.redis.get, self._k(key)))

    def get_many(self, keys: list[str]) -> list[dict[str, Any] | None]:
        """Several gets in one round trip, in the order asked."""
        return [_load(raw) for raw in self._call(self.redis.mget, [self._k(k) for k in keys])]

    def take(self, key: str) -> dict[str, Any] | None:
        return _load(self._call(self.redis.getdel, self._k(key)))

    def add(self, key: str, value: dict[str, Any], ttl: float) -> bool:
        return bool(
            self._call(self.redis.set, self._k(key), json.dumps(value), px=_ms(ttl), nx=True)
        )

    def incr(self, key: str, ttl: float) -> int:
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self._k(key), 0, px=_ms(ttl), nx=True)
        pipe.incr(self._k(key))
        return int(self._call(pipe.execute)[1])

    def count(self, key: str) -> int:
        value = self._call(self.redis.get, self._k(key))
        return int(value) if value is not None else 0

    def delete(self, key: str) -> None:
        self._call(self.redis.delete, self._k(key))

    def set_add(self, key: str, member: str, ttl: float) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.sadd(self._k(key), member)
        pipe.pexpire(self._k(key), _ms(ttl), gt=True)
        pipe.pexpire(self._k(key), _ms(ttl), nx=True)
        self._call(pipe.execute)

    def set_members(self, key: str) -> list[str]:
        members = self._call(self.redis.smembers, self._k(key))
        return sorted(m.decode() if isinstance(m, bytes) else m for m in members)

    def set_remove(self, key: str, member: str) -> None:
        self._call(self.redis.srem, self._k(key), member)

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except redis.RedisError:
            return False


class SqlStore:
    """Short-lived state in the `kv_entries` table, committed at once on its own connection.

    Expired rows are invisible to every operation and swept now and then. The statements of
    the hot operations (codes, sessions, markers, counters) are built once and run on the
    driver's connection (`driver`): on SQLite they are most of a silent sign-in's work.
    """

    SWEEP_PROBABILITY = 0.01

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        # The hot statements (codes, markers) are built once and run with parameters.
        self._put = self._upsert_statement(only_if_expired=False)
        self._add = self._upsert_statement(only_if_expired=True)
        live = (KvEntry.key == bindparam("key"), KvEntry.expires_at > bindparam("now"))
        self._get = select(KvEntry.value).where(*live)
        self._take = delete(KvEntry).where(*live).returning(KvEntry.value)
        self._count = select(KvEntry.counter).where(*live)
        self._sweep = delete(KvEntry).where(KvEntry.expires_at <= bindparam("now"))
        self._get_many: dict[int, Any] = {}  # by how many keys

    def _prepared(self, statement):  # noqa: ANN001, ANN202
        return prepared(statement, self.engine.dialect)

    def _many_statement(self, count: int):  # noqa: ANN202
        """SELECT of `count` keys at once (one statement per count: their SQL differs)."""
        statement = self._get_many.get(count)
        if statement is None:
            keys = [bindparam(f"key{i}") for i in range(count)]
            statement = select(KvEntry.key, KvEntry.value).where(
                KvEntry.key.in_(keys), KvEntry.expires_at > bindparam("now")
            )
            if count <= 8:  # the callers ask for one or two; others are built per call
                self._get_many[count] = statement
        return statement

    def _upsert_statement(self, only_if_expired: bool):  # noqa: ANN202
        """Insert an entry, or replace it (`add`: only if it has expired)."""
        stmt = self._insert(KvEntry).values(
            key=bindparam("key"),
            value=bindparam("value"),
            counter=bindparam("counter"),
            expires_at=bindparam("expires_at"),
        )
        return stmt.on_conflict_do_update(
            index_elements=[KvEntry.key],
            set_={
                "value": stmt.excluded.value,
                "counter": stmt.excluded.counter,
                "expires_at": stmt.excluded.expires_at,
            },
            where=KvEntry.expires_at <= bindparam("now") if only_if_expired else None,
        )

    def _maybe_sweep(self, now: float) -> None:
        if random.random() < self.SWEEP_PROBABILITY:
            self._prepared(self._sweep).write(self.engine, {"now": now})

    @staticmethod
    def _entry(key: str, value: dict[str, Any], ttl: float, now: float) -> dict[str, Any]:
        return {
            "key": key,
            "value": json.dumps(value),
            "counter": 0,
            "expires_at": now + ttl,
            "now": now,
        }

    def put(self, key: str, value: dict[str, Any], ttl: float) -> None:
        self.put_many([(key, value, ttl)])

    def put_many(self, entries: list[tuple[str, dict[str, Any], float]]) -> None:
        """Several puts in one transaction (key, value, ttl)."""
        now = now_float()
        rows = [self._entry(k, v, ttl, now) for k, v, ttl in entries]
        if rows:
            self._prepared(self._put).write(self.engine, rows if len(rows) > 1 else rows[0])
        self._maybe_sweep(now)

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._prepared(self._get).first(self.engine, {"key": key, "now": now_float()})
        return _load(row[0]) if row else None

    def get_many(self, keys: list[str]) -> list[dict[str, Any] | None]:
        if not keys:
            return []
        params = {f"key{i}": key for i, key in enumerate(keys)}
        params["now"] = now_float()
        rows = self._prepared(self._many_statement(len(keys))).all(self.engine, params)
        found = {key: value for key, value in rows}
        return [_load(found.get(key)) for key in keys]

    def take(self, key: str) -> dict[str, Any] | None:
        take = self._prepared(self._take)
        row = take.write_returning(self.engine, {"key": key, "now": now_float()})
        return _load(row[0]) if row else None

    def add(self, key: str, value: dict[str, Any], ttl: float) -> bool:
        entry = self._entry(key, value, ttl, now_float())
        return self._prepared(self._add).write(self.engine, entry) == 1

    def incr(self, key: str, ttl: float) -> int:
        now = now_float()
        with self.engine.begin() as conn:
            conn.execute(
                self._add,
                {"key": key, "value": None, "counter": 0, "expires_at": now + ttl, "now": now},
            )
            conn.execute(
                update(KvEntry).where(KvEntry.key == key).values(counter=KvEntry.counter + 1)
            )
            return int(conn.execute(select(KvEntry.counter).where(KvEntry.key == key)).scalar())

    def count(self, key: str) -> int:
        row = self._prepared(self._count).first(self.engine, {"key": key, "now": now_float()})
        return int(row[0] or 0) if row else 0

    def delete(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(KvEntry).where(KvEntry.key == key))

    def set_add(self, key: str, member: str, ttl: float) -> None:
        now = now_float()
        stmt = self._insert(KvSetMember).values(key=key, member=member, expires_at=now + ttl)
        stmt = stmt.on_conflict_do_update(
            index_elements=[KvSetMember.key, KvSetMember.member], set_={"expires_at": now + ttl}
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)
            if random.random() < self.SWEEP_PROBABILITY:
                conn.execute(delete(KvSetMember).where(KvSetMember.expires_at <= now))

    def set_members(self, key: str) -> list[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(KvSetMember.member)
                .where(KvSetMember.key == key, KvSetMember.expires_at > now_float())
                .order_by(KvSetMember.member)
            )
            return [row[0] for row in rows]

    def set_remove(self, key: str, member: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(KvSetMember).where(KvSetMember.key == key, KvSetMember.member == member)
            )

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
            return True
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            return False


def _ms(ttl: float) -> int:
    return max(1, int(ttl * 1000))


def _load(raw: str | bytes | None) -> dict[str, Any] | None:
    return None if raw is None else json.loads(raw)
