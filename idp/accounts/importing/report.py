"""What an import did: counts by outcome and reason for the terminal and the audit trail (no
personal data), and the conflicts file for the operator (which row, what happened)."""

from __future__ import annotations

import csv
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

OUTCOMES = ("created", "updated", "merged", "unchanged", "conflicts", "skipped")
# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "|", "%")
MAX_CELL = 300


@dataclass
class Summary:
    rows: int = 0
    counts: Counter = field(default_factory=Counter)
    # outcome -> reason -> count; reasons are fixed texts that name fields, never values.
    reasons: dict[str, Counter] = field(default_factory=dict)
    notes: Counter = field(default_factory=Counter)

    def add(self, outcome: str, reason: str | None = None) -> None:
        self.counts[outcome] += 1
        if reason:
            self.reasons.setdefault(outcome, Counter())[reason] += 1

    def merge(self, other: Summary) -> None:
        self.rows += other.rows
        self.counts.update(other.counts)
        self.notes.update(other.notes)
        for outcome, reasons in other.reasons.items():
            self.reasons.setdefault(outcome, Counter()).update(reasons)

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            **{outcome: self.counts[outcome] for outcome in OUTCOMES},
            "reasons": {k: dict(sorted(v.items())) for k, v in sorted(self.reasons.items())},
            "notes": dict(sorted(self.notes.items())),
        }


def operator() -> str:
    """The system account that ran the command (the audit's "who" for CLI imports)."""
    import getpass

    try:
        return getpass.getuser()[:64]
    except (KeyError, OSError):
        return "unknown"


def audit_transfer(event: str, by: str, **counts: object) -> None:
    """One audit event for an import or export: who ran it and counts, no person's data."""
    from ...store import audit

    audit.record(event, username=by, by=by, operator=operator(), **counts)


def safe_cell(value: object) -> str:
    """Text a spreadsheet shows as text: no formula, no control characters, bounded."""
    text = "" if value is None else str(value)
    text = "".join(c if c.isprintable() else " " for c in text)[:MAX_CELL]
    return "'" + text if text.startswith(_FORMULA_START) else text


class ConflictsFile:
    """One row per thing an operator should look at, written as it happens (mode 0600: it
    names people's usernames)."""

    HEADER = ("position", "source", "source_id", "outcome", "reason", "detail")

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._fh = os.fdopen(fd, "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._fh)
        self._writer.writerow(self.HEADER)
        self.rows = 0

    def write(self, rows: list[tuple]) -> None:
        for row in rows:
            self._writer.writerow([safe_cell(c) for c in row])
        self.rows += len(rows)

    def close(self) -> None:
        self._fh.close()
