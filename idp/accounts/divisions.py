"""The official list of provinces and communes/wards (since 1 July 2025: two levels, 34 and
3,321), loaded once per process from the data files beside this module."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).parent / "data"
PROVINCES_FILE = DATA / "provinces-2025-07-01.csv"
WARDS_FILE = DATA / "wards-2025-07-01.csv"


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    type: str

    @property
    def label(self) -> str:
        """The name as written on an address: "Tỉnh Cao Bằng", "Thành phố Hà Nội"."""
        if self.type == "tỉnh" and not self.name.startswith("Tỉnh"):
            return f"Tỉnh {self.name}"
        return self.name


@cache
def provinces() -> tuple[Division, ...]:
    with PROVINCES_FILE.open(encoding="utf-8") as fh:
        return tuple(Division(r["code"], r["name"], r["type"]) for r in csv.DictReader(fh))


@cache
def _wards() -> dict[str, tuple[Division, ...]]:
    by_province: dict[str, list[Division]] = {}
    with WARDS_FILE.open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            by_province.setdefault(r["province_code"], []).append(
                Division(r["code"], r["name"], r["type"])
            )
    return {code: tuple(items) for code, items in by_province.items()}


def wards(province_code: str) -> tuple[Division, ...]:
    return _wards().get(province_code, ())


def province(code: str | None) -> Division | None:
    return next((p for p in provinces() if p.code == code), None)


def ward(province_code: str | None, code: str | None) -> Division | None:
    return next((w for w in wards(province_code or "") if w.code == code), None)
