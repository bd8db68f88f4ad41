"""How dates, times and devices read on a page: `dd/mm/yyyy` with the full year, times in
Vietnam's time zone (Asia/Ho_Chi_Minh, UTC+7 without summer time), and a device named in words
("Chrome on Android") from its User-Agent by ua-parser instead of the raw string."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime

from flask import Flask
from flask_babel import gettext as _
from ua_parser import parse as parse_user_agent

from .clock import VIETNAM

DAY = "%d/%m/%Y"
DAY_AND_TIME = "%d/%m/%Y %H:%M"


def _as_local(value: datetime | float | int) -> datetime:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    else:
        moment = datetime.fromtimestamp(value, UTC)
    return moment.astimezone(VIETNAM)


def day(value: date | datetime | str | float | int | None) -> str:
    """A calendar date as dd/mm/yyyy: a birth date (ISO `1995-03-08` or the portal's
    `19950308`) as written, a moment as its day in Vietnam. Anything else is shown as it is."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        text = value.strip()
        for shape in ("%Y-%m-%d", "%Y%m%d"):
            try:
                return datetime.strptime(text, shape).strftime(DAY)  # noqa: DTZ007 - a date
            except ValueError:
                continue
        return text
    if isinstance(value, datetime) or not isinstance(value, date):
        return _as_local(value).strftime(DAY)
    return value.strftime(DAY)


def moment(value: datetime | float | int | None, *, seconds: bool = False) -> str:
    """A point in time as `dd/mm/yyyy HH:MM` (or with seconds) in Vietnam's time zone."""
    if value is None or value == "":
        return ""
    return _as_local(value).strftime(DAY_AND_TIME + (":%S" if seconds else ""))


def clock_time(value: datetime | float | int) -> str:
    """`HH:MM dd/mm/yyyy`: a time something ends (a lock), with its date."""
    return _as_local(value).strftime("%H:%M " + DAY)


@functools.lru_cache(maxsize=512)
def _device_parts(user_agent: str) -> tuple[str, str, str]:
    result = parse_user_agent(user_agent)
    browser = result.user_agent.family if result.user_agent else ""
    system = result.os.family if result.os else ""
    model = ""
    if result.device and result.device.family not in ("Other", "Generic Smartphone", "Spider"):
        model = " ".join(p for p in (result.device.brand, result.device.model) if p) or ""
        if (
            result.device.brand
            and result.device.model
            and result.device.model.startswith(result.device.brand)
        ):
            model = result.device.model
    return (
        "" if browser == "Other" else browser,
        "" if system == "Other" else system,
        model,
    )


def device(user_agent: str | None) -> str:
    """A device in words: "Chrome on Windows", "Mobile Safari on iOS (iPhone)". A User-Agent
    the parser does not know (a script, an app) is shown as sent, shortened."""
    browser, system, model = _device_parts(user_agent[:512]) if user_agent else ("", "", "")
    if browser and system:
        named = _("%(browser)s on %(system)s", browser=browser, system=system)
    elif browser or system:
        named = browser or system
    else:
        raw = "".join(c for c in (user_agent or "") if c.isprintable()).strip()
        return raw[:60] or _("Unknown device")
    return f"{named} ({model})" if model else named


def init_app(app: Flask) -> None:
    app.add_template_filter(day, "day")
    app.add_template_filter(moment, "moment")
    app.add_template_filter(device, "device")
