"""Generated files of former portals for the import tests: a Keycloak realm export with
PBKDF2 credentials, the hub's JSONL and CSV with bcrypt and salted SHA-256 rows."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
from pathlib import Path

import bcrypt


def keycloak_pbkdf2(password: str, algorithm: str = "pbkdf2-sha256", n: int = 27500) -> dict:
    digest = {"pbkdf2": "sha1", "pbkdf2-sha256": "sha256", "pbkdf2-sha512": "sha512"}[algorithm]
    salt = os.urandom(16)
    dk = hashlib.pbkdf2_hmac(digest, password.encode(), salt, n, 64 if digest != "sha256" else 32)
    return {
        "id": os.urandom(4).hex(),
        "type": "password",
        "createdDate": 1600000000000,
        "secretData": json.dumps(
            {
                "value": base64.b64encode(dk).decode(),
                "salt": base64.b64encode(salt).decode(),
                "additionalParameters": {},
            }
        ),
        "credentialData": json.dumps(
            {"hashIterations": n, "algorithm": algorithm, "additionalParameters": {}}
        ),
    }


def keycloak_user(
    uid: str, username: str, password: str | None, algorithm: str = "pbkdf2-sha256", **attrs
) -> dict:
    user = {
        "id": uid,
        "createdTimestamp": 1577836800000,
        "username": username,
        "enabled": True,
        "emailVerified": False,
        "firstName": "Văn An",
        "lastName": "Nguyễn",
        "email": f"{username}@example.vn",
        "attributes": {k: [v] for k, v in attrs.items()},
        "credentials": [keycloak_pbkdf2(password, algorithm)] if password else [],
        "realmRoles": ["default-roles-dvc", "admin"],
        "requiredActions": [],
        "federatedIdentities": [],
    }
    return user


def write_keycloak(path: Path, users: list[dict]) -> Path:
    path.write_text(
        json.dumps({"id": "dvc", "realm": "dvc", "enabled": True, "users": users}),
        encoding="utf-8",
    )
    return path


def bcrypt_hash(password: str, prefix: str = "$2b$") -> str:
    return prefix + bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()[4:]


def ssha256(password: str) -> str:
    salt = os.urandom(8)
    digest = hashlib.sha256(password.encode() + salt).digest()
    return "{SSHA256}" + base64.b64encode(digest + salt).decode()


def php_sha256(password: str, salt: str = "x9Zq") -> str:
    return f"sha256${salt}$" + hashlib.sha256(salt.encode() + password.encode()).hexdigest()


def write_jsonl(path: Path, rows: list[dict], extra_lines: list[bytes] = ()) -> Path:
    with open(path, "wb") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")
        for line in extra_lines:
            fh.write(line + b"\n")
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    columns = sorted({k for row in rows for k in row})
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in row.items()}
            )
    return path
