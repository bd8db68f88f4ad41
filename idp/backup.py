"""`idp backup` and `idp restore`: one archive holding what a hub cannot be rebuilt without.

The archive (a gzipped tar) carries the database (SQLite's online backup, or `pg_dump`'s custom
format for PostgreSQL), the keys folder (signing keys and the secret that encrypts TOTP seeds)
encrypted with the key passphrase (scrypt, then AES-256-GCM), and the client files. What lives
in the short-lived store (SSO sessions, codes, rate limits) is not kept: after a restore people
sign in again, and everything else — accounts, clients, consents, refresh tokens, the JWKS that
verifies ID tokens already issued — is as it was.

A restore goes only into an empty instance (no tables in the database, no keys), so it never
mixes two hubs' data; migrations then bring an older backup up to this version.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

from .config import Config

FORMAT = 1
KEYS_MAGIC = b"IDPKEYS1"


class BackupError(Exception):
    """What the operator must fix; said in one line."""


def _passphrase(config: Config) -> bytes:
    value = os.environ.get(config.keys_passphrase_env, "")
    if len(value) < 12:
        raise BackupError(
            f"set {config.keys_passphrase_env} (at least 12 characters): the keys in a backup "
            "are encrypted with it, and a restore needs the same passphrase"
        )
    return value.encode()


def _kdf(salt: bytes) -> Scrypt:
    return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1)


def encrypt(data: bytes, passphrase: bytes) -> bytes:
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    key = _kdf(salt).derive(passphrase)
    return KEYS_MAGIC + salt + nonce + AESGCM(key).encrypt(nonce, data, KEYS_MAGIC)


def decrypt(blob: bytes, passphrase: bytes) -> bytes:
    if not blob.startswith(KEYS_MAGIC) or len(blob) < len(KEYS_MAGIC) + 28:
        raise BackupError("the archive's keys are not in a form this version reads")
    rest = blob[len(KEYS_MAGIC) :]
    salt, nonce, sealed = rest[:16], rest[16:28], rest[28:]
    try:
        return AESGCM(_kdf(salt).derive(passphrase)).decrypt(nonce, sealed, KEYS_MAGIC)
    except InvalidTag as exc:
        raise BackupError("the key passphrase does not open this backup's keys") from exc


def _pg_url(database_url: str) -> str:
    """The libpq form of a SQLAlchemy URL (pg_dump and pg_restore take it as-is)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _is_sqlite(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "sqlite"


def _tar_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(folder.iterdir()) if folder.exists() else []:
            if path.is_file():
                tar.add(path, arcname=path.name)
    return buffer.getvalue()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _dump_database(config: Config, workdir: Path) -> tuple[str, Path]:
    url = config.resolved_database_url
    if _is_sqlite(url):
        source = make_url(url).database
        target = workdir / "database.sqlite3"
        with sqlite3.connect(source) as live, sqlite3.connect(target) as copy:
            live.backup(copy)  # consistent while the hub keeps writing
        return "sqlite", target
    target = workdir / "database.pgdump"
    _run("pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={target}",
         _pg_url(url))  # fmt: skip
    return "postgresql", target


def _run(tool: str, *args: str) -> None:
    """pg_dump or pg_restore; its last complaint is the operator's one line."""
    done = subprocess.run([tool, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise BackupError(f"{tool} failed: {last}")


def backup(config: Config, archive: Path) -> dict:
    """Write the archive (mode 0600); returns its manifest."""
    passphrase = _passphrase(config)
    clients_dir = Path(config.clients_dir)
    with tempfile.TemporaryDirectory() as folder:
        kind, dump = _dump_database(config, Path(folder))
        manifest = {
            "format": FORMAT,
            "created_at": int(time.time()),
            "issuer": config.issuer,
            "database": kind,
            "clients": sorted(p.name for p in clients_dir.glob("*.toml")),
        }
        archive.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            _add_bytes(tar, "manifest.json", json.dumps(manifest, indent=2).encode())
            tar.add(dump, arcname=dump.name)
            keys = encrypt(_tar_folder(config.resolved_keys_dir), passphrase)
            _add_bytes(tar, "keys.tar.enc", keys)
            for path in sorted(clients_dir.glob("*.toml")):
                tar.add(path, arcname=f"clients/{path.name}")
    return manifest


def _members(archive: Path) -> dict[str, bytes]:
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            return {
                m.name: tar.extractfile(m).read()
                for m in tar.getmembers()
                if m.isfile() and not m.name.startswith(("/", "..")) and ".." not in m.name
            }
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"{archive} is not a hub backup: {exc}") from exc


def _database_is_empty(database_url: str) -> bool:
    if _is_sqlite(database_url):
        path = Path(make_url(database_url).database or "")
        if not path.exists():
            return True
    engine = create_engine(database_url)
    try:
        return not inspect(engine).get_table_names()
    finally:
        engine.dispose()


def _restore_keys(blob: bytes, passphrase: bytes, keys_dir: Path) -> int:
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(keys_dir, 0o700)
    count = 0
    with tarfile.open(fileobj=io.BytesIO(decrypt(blob, passphrase)), mode="r") as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            if not member.isfile() or name != member.name or name.startswith("."):
                continue
            fd = os.open(keys_dir / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(tar.extractfile(member).read())
            count += 1
    return count


def restore(config: Config, archive: Path) -> dict:
    """Fill an empty instance from the archive; returns what was restored."""
    from .store.migrate import upgrade

    members = _members(archive)
    try:
        manifest = json.loads(members["manifest.json"])
    except (KeyError, ValueError) as exc:
        raise BackupError(f"{archive} has no manifest: not a hub backup") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')} is not one this version reads")
    passphrase = _passphrase(config)
    decrypt(members["keys.tar.enc"], passphrase)  # the passphrase is right, before any write
    url = config.resolved_database_url
    kind = "sqlite" if _is_sqlite(url) else "postgresql"
    if kind != manifest["database"]:
        raise BackupError(
            f"the backup holds a {manifest['database']} database; this instance uses {kind}"
        )
    keys_dir = config.resolved_keys_dir
    if keys_dir.exists() and any(keys_dir.glob("*.pem")):
        raise BackupError(f"{keys_dir} already holds signing keys: restore into an empty one")
    if not _database_is_empty(url):
        raise BackupError("the database already has tables: restore into an empty database")
    Path(config.instance_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory() as folder:
        if kind == "sqlite":
            copy = Path(folder) / "database.sqlite3"
            copy.write_bytes(members["database.sqlite3"])
            target = Path(make_url(url).database)
            with sqlite3.connect(copy) as source, sqlite3.connect(target) as live:
                source.backup(live)
            os.chmod(target, 0o600)
        else:
            dump = Path(folder) / "database.pgdump"
            dump.write_bytes(members["database.pgdump"])
            _run("pg_restore", "--no-owner", "--no-privileges", "--exit-on-error",
                 f"--dbname={_pg_url(url)}", str(dump))  # fmt: skip
    keys = _restore_keys(members["keys.tar.enc"], passphrase, keys_dir)
    upgrade(url)
    clients_dir = Path(config.clients_dir)
    written = []
    for name, data in members.items():
        if name.startswith("clients/") and name.endswith(".toml"):
            target = clients_dir / Path(name).name
            if not target.exists():
                clients_dir.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                written.append(target.name)
    return {"database": kind, "key_files": keys, "clients": written, "issuer": manifest["issuer"]}
