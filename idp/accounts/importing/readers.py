"""Reading the three file formats one row at a time, in bounded memory.

Each reader yields `(position, row)`: the line (JSONL, CSV) or user number (Keycloak) and a
dict in the hub's own field names, or a `RowError` saying why that row cannot be read. A
crafted file (a line of gigabytes, bytes that are not UTF-8, nesting deep enough to break a
recursive parser, a formula in a cell) costs one skipped row, never the run.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import BinaryIO

from .. import legacy_hashes
from .records import RowError

MAX_LINE = 1024 * 1024  # one account never needs a megabyte
_TOO_LONG = "\udcfe line too long"  # a lone surrogate: no decoded text can equal it


class FileError(ValueError):
    """The file as a whole cannot be read (no header, not a Keycloak export); one line."""


def bounded_lines(fh: BinaryIO, limit: int = MAX_LINE) -> Iterator[bytes | None]:
    """The file's lines as bytes, or None for a line longer than `limit` (skipped whole,
    without ever holding it)."""
    while True:
        line = fh.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = fh.readline(limit)
            yield None
            continue
        yield line


def read_jsonl(fh: BinaryIO) -> Iterator[tuple[int, dict | RowError]]:
    for number, raw in enumerate(bounded_lines(fh), start=1):
        if raw is None:
            yield number, RowError("line too long")
            continue
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield number, RowError("not UTF-8")
            continue
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            yield number, RowError("not JSON")
            continue
        yield number, data if isinstance(data, dict) else RowError("not an object")


def _decoded(fh: BinaryIO) -> Iterator[str]:
    """Lines decoded for the csv module; bytes that are not UTF-8 become lone surrogates that
    the row check finds, an over-long line becomes a marker row."""
    for number, raw in enumerate(bounded_lines(fh), start=1):
        if raw is None:
            yield _TOO_LONG + "\n"
            continue
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        yield raw.decode("utf-8", errors="surrogateescape")


def _surrogates(values: list[str]) -> bool:
    return any("\udc80" <= c <= "\udcff" for value in values for c in value)


# CSV cells that hold lists are JSON text; roles may also be "staff admin".
_CSV_JSON = ("federated", "aliases")


def read_csv(fh: BinaryIO) -> Iterator[tuple[int, dict | RowError]]:
    csv.field_size_limit(MAX_LINE)
    reader = csv.reader(_decoded(fh), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise FileError("the CSV file is empty") from None
    except csv.Error as exc:
        raise FileError("the CSV header cannot be read") from exc
    header = [h.strip() for h in header]
    if _surrogates(header) or "source_id" not in header or "username" not in header:
        raise FileError("the CSV header must name at least source_id and username")
    while True:
        first = reader.line_num + 1  # a quoted cell may run over lines: name where it began
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield first, RowError("not valid CSV")
            continue
        if not row or row == [""]:
            continue
        if row[0] == _TOO_LONG:
            yield reader.line_num, RowError("line too long")
            continue
        if _surrogates(row):
            yield reader.line_num, RowError("not UTF-8")
            continue
        if len(row) != len(header):
            yield reader.line_num, RowError("wrong number of columns")
            continue
        data: dict = dict(zip(header, row, strict=True))
        try:
            for key in _CSV_JSON:
                if data.get(key):
                    data[key] = json.loads(data[key])
        except (ValueError, RecursionError):
            yield reader.line_num, RowError(f"{key} not JSON")
            continue
        yield reader.line_num, data


# Keycloak user attributes (lists of strings) that carry the hub's fields.
KEYCLOAK_ATTRIBUTES = {
    "national_id": ("national_id", "cccd", "nationalId", "so_cccd"),
    "former_national_id": ("former_national_id", "cmnd", "so_cmnd"),
    "tax_code": ("tax_code", "mst", "taxCode"),
    "account_type": ("account_type", "accountType"),
    "phone": ("phone", "phone_number", "phoneNumber", "mobile"),
    "phone_verified": ("phone_verified", "phoneNumberVerified"),
    "birthdate": ("birthdate", "birth_date", "dob"),
    "sex": ("sex", "gender"),
    "address": ("address",),
    "business_name": ("business_name", "organization"),
}


def keycloak_user(user: dict) -> dict:
    """A Keycloak realm export's user in the hub's field names. Keycloak's `sub` is the user
    id: it is the legacy subject its clients know."""
    if not isinstance(user, dict):
        raise RowError("not an object")
    attributes = user.get("attributes") if isinstance(user.get("attributes"), dict) else {}
    data: dict = {
        "source_id": user.get("id"),
        "username": user.get("username"),
        "legacy_subject": user.get("id"),
        "email": user.get("email"),
        "email_verified": user.get("emailVerified"),
        "active": user.get("enabled"),
        "created_at": user.get("createdTimestamp"),
    }
    first, last = user.get("firstName"), user.get("lastName")
    names = [n.strip() for n in (last, first) if isinstance(n, str) and n.strip()]
    if names:
        data["full_name"] = " ".join(names)  # Vietnamese order: family name first
    for key, names_in_keycloak in KEYCLOAK_ATTRIBUTES.items():
        for name in names_in_keycloak:
            values = attributes.get(name)
            if isinstance(values, list) and values and isinstance(values[0], str):
                data[key] = values[0]
                break
            if isinstance(values, str):
                data[key] = values
                break
    links = user.get("federatedIdentities")
    if isinstance(links, list):
        data["federated"] = [
            {"connector": link.get("identityProvider"), "subject": link.get("userId")}
            for link in links
            if isinstance(link, dict)
        ]
    credentials = user.get("credentials")
    passwords = [
        c
        for c in (credentials if isinstance(credentials, list) else [])
        if isinstance(c, dict) and c.get("type") == "password"
    ]
    if passwords:
        try:
            data["password_hash"] = legacy_hashes.from_keycloak(passwords[0])
        except legacy_hashes.Unrecognised as exc:
            data["password_note"] = str(exc)
    return data


def read_keycloak(fh: BinaryIO) -> Iterator[tuple[int, dict | RowError]]:
    """`users[]` of a realm export (or of one of its `*-users-N.json` files), one at a time."""
    import ijson

    try:
        for number, user in enumerate(ijson.items(fh, "users.item", use_float=True), start=1):
            try:
                yield number, keycloak_user(user)
            except RowError as exc:
                yield number, exc
    except ijson.JSONError as exc:
        raise FileError(f"not a valid Keycloak export (JSON broken near byte {fh.tell()})") from exc
