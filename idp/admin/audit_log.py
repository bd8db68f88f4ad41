"""Reading the audit trail: filters by account, client, event and time, a page at a time or
as CSV (streamed, so a year of events does not sit in memory)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, select

from ..clock import VIETNAM
from ..store.db import db
from ..store.models import AuditEvent

CSV_COLUMNS = ("at", "event", "username", "user_id", "client_id", "ip", "detail")


@dataclass(frozen=True)
class AuditFilter:
    username: str = ""
    client_id: str = ""
    event: str = ""
    since: int | None = None  # epoch seconds, inclusive
    until: int | None = None  # epoch seconds, exclusive

    @classmethod
    def from_args(cls, args) -> tuple[AuditFilter, dict[str, str]]:  # noqa: ANN001
        """From query parameters (dates as dd/mm/yyyy on the page, YYYY-MM-DD from scripts;
        Vietnam days); bad values are named."""
        errors: dict[str, str] = {}

        def day(name: str, end: bool) -> int | None:
            value = (args.get(name) or "").strip()
            if not value:
                return None
            for shape in ("%d/%m/%Y", "%Y-%m-%d"):
                try:
                    start = datetime.strptime(value, shape).replace(tzinfo=VIETNAM)
                    break
                except ValueError:
                    continue
            else:
                errors[name] = "dd/mm/yyyy"
                return None
            return int((start + timedelta(days=1 if end else 0)).timestamp())

        return cls(
            username=(args.get("user") or "").strip()[:64],
            client_id=(args.get("client") or "").strip()[:64],
            event=(args.get("event") or "").strip()[:64],
            since=day("from", end=False),
            until=day("to", end=True),
        ), errors

    def query(self) -> Select:
        statement = select(AuditEvent)
        if self.username:
            statement = statement.where(AuditEvent.username == self.username)
        if self.client_id:
            statement = statement.where(AuditEvent.client_id == self.client_id)
        if self.event:
            statement = statement.where(AuditEvent.event == self.event)
        if self.since is not None:
            statement = statement.where(AuditEvent.at >= self.since)
        if self.until is not None:
            statement = statement.where(AuditEvent.at < self.until)
        return statement.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())


def page(flt: AuditFilter, limit: int = 100, offset: int = 0) -> list[AuditEvent]:
    return list(db.session.scalars(flt.query().limit(limit).offset(offset)))


def event_names() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.event).distinct().order_by(AuditEvent.event)))


def local_time(at: int) -> str:
    return datetime.fromtimestamp(at, VIETNAM).strftime("%Y-%m-%d %H:%M:%S")


def csv_rows(flt: AuditFilter, batch: int = 1000) -> Iterator[str]:
    """The CSV text, header first, in batches; cells that a spreadsheet would run as a
    formula are prefixed with a quote (CSV injection)."""

    def safe(value: object) -> str:
        text = "" if value is None else str(value)
        return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield "\ufeff" + buffer.getvalue()  # BOM: spreadsheets then read Vietnamese as UTF-8
    last_id = None
    while True:
        statement = flt.query().limit(batch)
        if last_id is not None:
            statement = statement.where(AuditEvent.id < last_id)
        rows = list(db.session.scalars(statement.order_by(None).order_by(AuditEvent.id.desc())))
        if not rows:
            return
        buffer.seek(0)
        buffer.truncate()
        for row in rows:
            writer.writerow(
                [
                    local_time(row.at),
                    row.event,
                    safe(row.username),
                    row.user_id or "",
                    safe(row.client_id),
                    row.ip or "",
                    safe(json.dumps(row.detail, ensure_ascii=False)) if row.detail else "",
                ]
            )
        yield buffer.getvalue()
        last_id = rows[-1].id
