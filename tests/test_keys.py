"""Signing keys: files and permissions, encryption at rest, rotation and retirement."""

import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization

from idp.keys import KeyRing, SigningKeyError, ensure_keys, prune, read_metadata, rotate


def test_init_creates_one_key_per_algorithm_with_0600_files(tmp_path):
    keys_dir = tmp_path / "keys"
    created = ensure_keys(keys_dir, "NO_SUCH_ENV")
    assert len(created) == 2
    assert ensure_keys(keys_dir, "NO_SUCH_ENV") == []  # idempotent
    for path in keys_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_passphrase_encrypts_private_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_KEYS_PASS", "correct horse battery")
    keys_dir = tmp_path / "keys"
    ensure_keys(keys_dir, "TEST_KEYS_PASS")
    pem = next(keys_dir.glob("*.pem")).read_bytes()
    assert b"ENCRYPTED" in pem
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(pem, None)
    ring = KeyRing(keys_dir, "TEST_KEYS_PASS", 3600)
    assert ring.signing_key("RS256")
    monkeypatch.setenv("TEST_KEYS_PASS", "wrong")
    with pytest.raises(SigningKeyError):
        KeyRing(keys_dir, "TEST_KEYS_PASS", 3600).signing_key("RS256")


def test_rotation_signs_with_new_key_and_keeps_old_published_until_expiry(tmp_path):
    keys_dir = tmp_path / "keys"
    ensure_keys(keys_dir, "X")
    ring = KeyRing(keys_dir, "X", publish_window=3600)
    old = ring.signing_key("RS256").kid
    new_kids = rotate(keys_dir, "X", ("RS256",))
    ring._checked = 0  # the ring rechecks the folder at most once a second
    assert ring.signing_key("RS256").kid == new_kids[0] != old
    published = {k["kid"] for k in ring.jwks()["keys"]}
    assert {old, new_kids[0]} <= published
    retired = next(m for m in read_metadata(keys_dir) if m["kid"] == old)["retired_at"]
    later = ring.published(now=retired + 3601)
    assert old not in {k.kid for k in later}
    assert prune(keys_dir, 3600, now=retired + 10) == []
    assert prune(keys_dir, 3600, now=retired + 3601) == [old]
    assert not (keys_dir / f"{old}.pem").exists()


def test_missing_keys_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SigningKeyError, match="idp init"):
        KeyRing(tmp_path / "nope", "X", 60).signing_key("RS256")


def test_key_ring_parses_each_key_once(tmp_path, monkeypatch):
    keys_dir = tmp_path / "keys"
    ensure_keys(keys_dir, "X")
    ring = KeyRing(keys_dir, "X", 60)
    ring.signing_key("RS256")
    calls = []
    real = serialization.load_pem_private_key
    monkeypatch.setattr(
        serialization, "load_pem_private_key", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    for _ in range(5):
        ring._checked = 0
        ring.signing_key("RS256")
    assert calls == []
    os.utime(keys_dir, ns=(1, 1))  # the folder changed: re-read metadata, still no re-parse
    ring._checked = 0
    ring.signing_key("ES256")
    assert calls == []


def test_workers_starting_together_share_one_complete_form_secret(tmp_path):
    """Many processes creating the form-signing secret at once all read the same, whole one
    (a worker that read it half-written signed nothing: every form page was a 500)."""
    import subprocess
    import sys

    keys = tmp_path / "keys"
    probe = (
        "import sys; from idp import _secret_key; from idp.config import Config; "
        f"print(_secret_key(Config(keys_dir={str(keys)!r}, secret_key_env='IDP_NO_SUCH_ENV')))"
    )
    runs = [
        subprocess.Popen([sys.executable, "-c", probe], stdout=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    secrets = {run.communicate(timeout=60)[0].strip() for run in runs}
    assert len(secrets) == 1 and len(secrets.pop()) >= 40
    assert [p.name for p in keys.iterdir()] == ["session-secret"]  # no drafts left behind
