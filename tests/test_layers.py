"""Which package may import which: the OIDC endpoints and the sign-in pages do not import the
broker's logout (the broker registers a hook), and the sign-in pages do not import the OIDC
endpoints. A cycle here once needed imports hidden inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

IDP = Path(__file__).resolve().parent.parent / "idp"


def imported_modules(package: str) -> set[tuple[str, str]]:
    """(file, absolute module) for every import, at any depth, in idp/<package>/."""
    found = set()
    for path in (IDP / package).rglob("*.py"):
        parts = ["idp", *path.relative_to(IDP).with_suffix("").parts]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = parts[: len(parts) - node.level] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                found |= {(path.name, f"{module}.{alias.name}") for alias in node.names}
            elif isinstance(node, ast.Import):
                found |= {(path.name, alias.name) for alias in node.names}
    return found


@pytest.mark.parametrize(
    "package, forbidden",
    [("oidc", "idp.broker"), ("login", "idp.oidc"), ("login", "idp.broker.logout")],
)
def test_no_package_imports_what_it_must_not(package, forbidden):
    offending = sorted(
        f"{name}: {module}"
        for name, module in imported_modules(package)
        if module == forbidden or module.startswith(forbidden + ".")
    )
    assert offending == []
