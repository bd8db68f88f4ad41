"""The short-lived store contract, on the SQL default and on Redis, over real connections."""

import threading

import pytest
import redis

from idp.store import kv
from tests.conftest import REDIS_URL


@pytest.fixture
def store(app):
    with app.app_context():
        yield kv()


def test_put_get_delete(store):
    store.put("a", {"x": 1}, 60)
    assert store.get("a") == {"x": 1}
    store.put("a", {"x": 2}, 60)
    assert store.get("a") == {"x": 2}
    store.delete("a")
    assert store.get("a") is None


def test_take_is_single_use(store):
    store.put("code", {"v": "ok"}, 60)
    assert store.take("code") == {"v": "ok"}
    assert store.take("code") is None


def test_take_under_concurrency_has_exactly_one_winner(app, store):
    store.put("race", {"v": 1}, 60)
    results = []

    def worker():
        with app.app_context():
            results.append(kv().take("race"))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1


def test_add_only_when_absent(store):
    assert store.add("jti", {}, 60) is True
    assert store.add("jti", {}, 60) is False


def test_incr_and_count(store):
    assert store.count("n") == 0
    assert [store.incr("n", 60) for _ in range(3)] == [1, 2, 3]
    assert store.count("n") == 3


def test_entries_expire(store, clock, app):
    store.put("short", {"v": 1}, 10)
    store.add("once", {}, 10)
    store.incr("cnt", 10)
    if app.config["IDP"].redis_url:
        r = redis.Redis.from_url(REDIS_URL)
        prefix = app.config["IDP"].redis_key_prefix
        for key in ("short", "once", "cnt"):
            assert 0 < r.pttl(prefix + key) <= 10_000
        return
    clock.advance(11)
    assert store.get("short") is None and store.take("short") is None
    assert store.add("once", {}, 10) is True
    assert store.count("cnt") == 0 and store.incr("cnt", 10) == 1


def test_put_many_writes_each_entry_with_its_own_ttl(store, clock, app):
    store.put("b", {"old": True}, 60)
    store.put_many([("a", {"v": 1}, 10), ("b", {"v": 2}, 100)])
    assert store.get("a") == {"v": 1} and store.get("b") == {"v": 2}
    if app.config["IDP"].redis_url:
        r = redis.Redis.from_url(REDIS_URL)
        prefix = app.config["IDP"].redis_key_prefix
        assert 0 < r.pttl(prefix + "a") <= 10_000 < r.pttl(prefix + "b") <= 100_000
        return
    clock.advance(11)
    assert store.get("a") is None and store.get("b") == {"v": 2}


def test_ping(store):
    assert store.ping() is True


def test_redis_outage_raises_store_unavailable():
    from idp.store import RedisStore, StoreUnavailable

    store = RedisStore("redis://127.0.0.1:1/0")
    with pytest.raises(StoreUnavailable):
        store.get("x")
    assert store.ping() is False


def test_sets(store):
    store.set_add("s", "a", 60)
    store.set_add("s", "b", 60)
    store.set_add("s", "a", 60)
    assert store.set_members("s") == ["a", "b"]
    store.set_remove("s", "a")
    assert store.set_members("s") == ["b"]
    assert store.set_members("empty") == []


def test_set_members_expire(store, clock, app):
    store.set_add("t", "a", 10)
    if app.config["IDP"].redis_url:
        r = redis.Redis.from_url(REDIS_URL)
        assert 0 < r.pttl(app.config["IDP"].redis_key_prefix + "t") <= 10_000
        return
    clock.advance(11)
    assert store.set_members("t") == []
