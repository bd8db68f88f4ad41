"""Bringing a former portal's accounts into the hub: `idp users import` and `idp users export`.

readers.py reads the three formats row by row; records.py checks one row; merge.py puts it in
the database without duplicates or silent overwrites; report.py counts and writes the
conflicts file; export.py writes the hub's own JSONL. Passwords stay in the stored form they
came in (legacy_hashes.py) until their owner's next sign-in rehashes them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import current_app
from flask_babel import force_locale

from ...clock import now
from ...store.db import db
from . import readers
from .merge import Importer, ImportStopped
from .readers import FileError
from .records import RowError
from .report import ConflictsFile, Summary, audit_transfer

FORMATS = ("jsonl", "csv", "keycloak")
SOURCE_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")

__all__ = ["FORMATS", "FileError", "ImportStopped", "ImportResult", "guess_format", "run"]


@dataclass
class ImportResult:
    summary: Summary
    conflicts_path: Path | None
    seconds: float

    def as_dict(self, source: str, fmt: str, dry_run: bool) -> dict:
        return {
            "source": source,
            "format": fmt,
            "dry_run": dry_run,
            **self.summary.as_dict(),
            "conflicts_file": str(self.conflicts_path) if self.conflicts_path else None,
            "seconds": round(self.seconds, 1),
        }


def guess_format(path: Path) -> str:
    """The format a file's name suggests when --format is not given."""
    name = path.name.lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".json"):
        return "keycloak"
    return "jsonl"


def _rows(fmt: str, fh: BinaryIO) -> Iterator[tuple[int, dict | RowError]]:
    if fmt == "csv":
        return readers.read_csv(fh)
    if fmt == "keycloak":
        return readers.read_keycloak(fh)
    return readers.read_jsonl(fh)


def _with_progress(
    rows: Iterator[tuple[int, dict | RowError]], fh: BinaryIO, tick: Callable[[int], None] | None
) -> Iterator[tuple[int, dict | RowError]]:
    done = 0
    for n, item in enumerate(rows):
        if tick is not None and n % 1000 == 0:
            position = fh.tell()
            tick(position - done)
            done = position
        yield item


def _conflicts_file(folder: Path, stem: str) -> ConflictsFile:
    """A new file (never over another run's, even in the same second)."""
    for n in range(1, 100):
        try:
            return ConflictsFile(folder / f"{stem}{'' if n == 1 else f'-{n}'}-conflicts.csv")
        except FileExistsError:
            continue
    raise FileExistsError(f"{stem}-conflicts.csv")


def run(
    path: Path,
    source: str,
    fmt: str,
    *,
    dry_run: bool,
    conflicts_dir: Path,
    tick: Callable[[int], None] | None = None,
    by: str = "cli",
) -> ImportResult:
    """Import one file (inside an app context); audited, counts only."""
    if not SOURCE_RE.fullmatch(source):
        raise FileError("--source: 1-64 lower-case letters, digits, '-' or '_'")
    if fmt not in FORMATS:
        raise FileError(f"--format: one of {', '.join(FORMATS)}")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    started = time.monotonic()
    allow = current_app.config["IDP"].passwords.accept_unsalted_legacy
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below, after the last row
    except OSError as exc:
        raise FileError(f"cannot read {path}: {exc.strerror}") from None
    try:
        conflicts = _conflicts_file(conflicts_dir, f"import-{source}-{stamp}")
    except OSError as exc:
        fh.close()
        raise FileError(
            f"cannot write the conflicts file in {conflicts_dir}: {exc.strerror}"
        ) from None
    conflicts_path = conflicts.path
    importer = Importer(
        source, allow_unsalted=allow, now=now(), dry_run=dry_run, conflicts=conflicts
    )
    try:
        # Field checks build their (translated) messages; outside a request, in English.
        with fh, force_locale("en"):
            importer.run(_with_progress(_rows(fmt, fh), fh, tick))
    except BaseException:
        db.session.rollback()  # the batch under way is not written
        raise
    finally:
        conflicts.close()
        if conflicts.rows == 0:
            conflicts.path.unlink()
        summary = importer.summary
        audit_transfer(
            "users_import",
            by,
            source=source,
            format=fmt,
            dry_run=dry_run,
            **{k: v for k, v in summary.as_dict().items() if k not in ("reasons", "notes")},
        )
    return ImportResult(
        summary, conflicts_path if conflicts.rows else None, time.monotonic() - started
    )
