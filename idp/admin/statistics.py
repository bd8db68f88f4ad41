"""The figures the provincial portals show, from the audit trail and the accounts table, and
one server-drawn SVG bar chart per figure (no script, no chart library, nothing inline that CSP
would block: SVG presentation attributes only).

Days are Vietnam days (UTC+7). "Online now" counts the accounts that signed in within the SSO
session's idle timeout: a session not used for that long has ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from flask import current_app
from markupsafe import Markup
from sqlalchemy import func, select

from ..clock import VIETNAM, now
from ..store.db import db
from ..store.models import AuditEvent, User

SIGN_IN = "login_success"
REGISTRATION_EVENTS = ("user_registered", "user_created", "user_created_from_national")


@dataclass(frozen=True)
class Figures:
    online_now: int
    sign_ins_today: int
    sign_ins_week: int
    sign_ins_month: int
    sign_ins_total: int
    accounts_total: int
    by_method: list[tuple[str, int]]
    by_client: list[tuple[str, int]]
    sign_ins_per_day: list[tuple[str, int]]
    registrations_per_day: list[tuple[str, int]]


def _day_start(at: int) -> int:
    local = datetime.fromtimestamp(at, VIETNAM)
    return int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())


def _count(event: str, since: int | None = None) -> int:
    query = select(func.count()).select_from(AuditEvent).where(AuditEvent.event == event)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    return int(db.session.scalar(query) or 0)


def _per_day(timestamps: list[int], first_day: int, days: int) -> list[tuple[str, int]]:
    counts = [0] * days
    for at in timestamps:
        index = (at - first_day) // 86400
        if 0 <= index < days:
            counts[index] += 1
    labels = [
        datetime.fromtimestamp(first_day + i * 86400, VIETNAM).strftime("%d/%m")
        for i in range(days)
    ]
    return list(zip(labels, counts, strict=True))


def method_label(method: str | None) -> str:
    """local (any password sign-in), or national:<connector>[/<how they signed in there>]."""
    if not method:
        return "?"
    if method.startswith("national:"):
        return method
    return "local"


def figures(days: int = 30) -> Figures:
    at = now()
    today = _day_start(at)
    week = _day_start(at - datetime.fromtimestamp(at, VIETNAM).weekday() * 86400)
    month = int(datetime.fromtimestamp(today, VIETNAM).replace(day=1).timestamp())
    window = today - (days - 1) * 86400
    idle = current_app.config["IDP"].session.idle_timeout
    online = db.session.scalar(
        select(func.count(func.distinct(AuditEvent.user_id))).where(
            AuditEvent.event == SIGN_IN, AuditEvent.at >= at - idle
        )
    )
    recent = db.session.execute(
        select(AuditEvent.at, AuditEvent.client_id, AuditEvent.detail).where(
            AuditEvent.event == SIGN_IN, AuditEvent.at >= window
        )
    ).all()
    methods: dict[str, int] = {}
    by_client: dict[str, int] = {}
    for _, client_id, detail in recent:
        label = method_label((detail or {}).get("method"))
        methods[label] = methods.get(label, 0) + 1
        if client_id:
            by_client[client_id] = by_client.get(client_id, 0) + 1
    created = db.session.scalars(select(User.created_at).where(User.created_at >= window)).all()
    return Figures(
        online_now=int(online or 0),
        sign_ins_today=_count(SIGN_IN, today),
        sign_ins_week=_count(SIGN_IN, week),
        sign_ins_month=_count(SIGN_IN, month),
        sign_ins_total=_count(SIGN_IN),
        accounts_total=int(db.session.scalar(select(func.count()).select_from(User)) or 0),
        by_method=sorted(methods.items(), key=lambda kv: -kv[1]),
        by_client=sorted(by_client.items(), key=lambda kv: -kv[1])[:15],
        sign_ins_per_day=_per_day([row[0] for row in recent], window, days),
        registrations_per_day=_per_day(list(created), window, days),
    )


def bar_chart(rows: list[tuple[str, int]], title: str, *, vertical: bool = False) -> Markup:
    """An accessible SVG bar chart: a title, a label and a value on every bar."""
    if not rows:
        rows = [("—", 0)]
    top = max(value for _, value in rows) or 1
    safe_title = escape(title)
    if vertical:
        width, height, bar = 640, 220, 640 / len(rows)
        parts = []
        for i, (label, value) in enumerate(rows):
            h = 160 * value / top
            x = i * bar
            parts.append(
                f'<rect x="{x + 2:.1f}" y="{180 - h:.1f}" width="{bar - 4:.1f}" height="{h:.1f}" '
                f'fill="#0b3d91"><title>{escape(label)}: {value}</title></rect>'
            )
            if len(rows) <= 31 and i % max(1, len(rows) // 10) == 0:
                parts.append(
                    f'<text x="{x + bar / 2:.1f}" y="198" font-size="12" text-anchor="middle" '
                    f'fill="#1a1a1a">{escape(label)}</text>'
                )
        parts.append(
            f'<text x="0" y="12" font-size="12" fill="#1a1a1a">max {top}</text>'
            '<line x1="0" y1="180.5" x2="640" y2="180.5" stroke="#767676"/>'
        )
    else:
        width, height = 640, 28 * len(rows) + 8
        parts = []
        for i, (label, value) in enumerate(rows):
            w = 360 * value / top
            y = 4 + i * 28
            parts.append(
                f'<text x="0" y="{y + 17}" font-size="13" fill="#1a1a1a">'
                f"{escape(label[:36])}</text>"
                f'<rect x="250" y="{y + 3}" width="{w:.1f}" height="20" fill="#0b3d91">'
                f"<title>{escape(label)}: {value}</title></rect>"
                f'<text x="{256 + w:.1f}" y="{y + 17}" font-size="13" fill="#1a1a1a">{value}</text>'
            )
    # Every piece of text in it went through html.escape above.
    left = 24 if vertical else 0  # room for the first day's label
    return Markup(  # noqa: S704
        f'<svg class="chart" viewBox="{-left} 0 {width + left} {height}" role="img" '
        f'aria-label="{safe_title}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{safe_title}</title>{"".join(parts)}</svg>'
    )
