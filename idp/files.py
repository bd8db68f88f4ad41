"""Files holding personal data (the SQLite database, mail and SMS outboxes with names, links
and codes) are readable by the service account only: folders 0700, files 0600. New ones are
made so; `idp init` tightens what exists; `idp serve` warns, naming each path that is looser.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .config import Config

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> Path:
    """Make the folder (and its parents) if missing, readable by this account only."""
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    return path


def write_private(path: Path, data: bytes) -> None:
    """A new file only this account can read (never widened by the umask)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _sqlite_files(config: Config) -> list[Path]:
    url = config.resolved_database_url
    if not url.startswith("sqlite:///"):
        return []
    db = Path(url[len("sqlite:///") :])
    return [db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}-journal")]


def _watched(config: Config) -> list[tuple[Path, int]]:
    """Every path the rule covers, with the mode it should not exceed."""
    paths = [(Path(config.instance_dir).resolve(), PRIVATE_DIR)]
    paths += [(p, PRIVATE_FILE) for p in _sqlite_files(config)]
    for folder in (config.resolved_outbox_dir, config.resolved_sms_outbox_dir):
        paths.append((folder, PRIVATE_DIR))
        if folder.is_dir():
            paths += [(p, PRIVATE_FILE) for p in folder.iterdir() if p.is_file()]
    return [(p, mode) for p, mode in paths if p.exists()]


def too_open(config: Config) -> list[tuple[Path, int]]:
    """The paths that group or other users may read, write or enter, with their mode."""
    found = []
    for path, _ in _watched(config):
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            found.append((path, mode))
    return found


def tighten(config: Config) -> None:
    """Give every covered path its private mode (`idp init`)."""
    for path, mode in _watched(config):
        os.chmod(path, mode)
