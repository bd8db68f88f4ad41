"""Run the hub's demo or its tests in a project-local virtual environment built from the lock.

    python3 scripts/venv.py dev  [idp dev options…]     # the demo: hub, mock portal, client
    python3 scripts/venv.py test [pytest options…]      # the whole test suite (-n 2)
    python3 scripts/venv.py setup                       # only build .venv (a deployment)

Standard library only, so it works with any Python ≥ 3.11, including a distribution's
`python3` that refuses `pip install` outside a virtual environment (PEP 668). It makes `.venv`
(or $IDP_VENV) once, installs the project with every dependency pinned by
`requirements/lock.txt`, and reinstalls only when the lock or pyproject.toml changed.
Refresh the lock with pip-tools:
`pip-compile --extra test --strip-extras --no-emit-index-url --no-emit-find-links
--upgrade -o requirements/lock.txt pyproject.toml`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "lock.txt"
VENV = Path(os.environ.get("IDP_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"


def say(message: str) -> None:
    print(f"[venv] {message}", file=sys.stderr, flush=True)


def _bootstrap_pip() -> None:
    """A distribution Python without ensurepip (Debian without python3-venv): fetch pip's
    wheel from PyPI and let it install itself into the environment."""
    index = "https://pypi.org/pypi/pip/json"
    with urllib.request.urlopen(index, timeout=60) as answer:  # noqa: S310
        release = json.load(answer)
    wheel = next(u for u in release["urls"] if u["filename"].endswith(".whl"))
    url = urllib.parse.urljoin(index, wheel["url"])  # a mirror may answer relative addresses
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / wheel["filename"]
        with urllib.request.urlopen(url, timeout=120) as answer:  # noqa: S310
            data = answer.read()
        if hashlib.sha256(data).hexdigest() != wheel["digests"]["sha256"]:
            raise SystemExit("the downloaded pip wheel does not match PyPI's digest")
        path.write_bytes(data)
        subprocess.run(
            [str(PYTHON), str(path / "pip"), "install", "--quiet", "--no-index", str(path)],
            check=True,
        )


def ensure_venv() -> None:
    if PYTHON.exists():
        return
    say(f"creating {VENV}")
    made = subprocess.run([sys.executable, "-m", "venv", str(VENV)], capture_output=True)
    if made.returncode != 0:
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(VENV)], check=True)
        _bootstrap_pip()


def ensure_installed(extras: str) -> None:
    """The project and its locked dependencies, unless this exact set is already there."""
    stamp = VENV / f".idp-installed-{extras or 'base'}"
    digest = hashlib.sha256(
        LOCK.read_bytes() + (ROOT / "pyproject.toml").read_bytes() + extras.encode()
    ).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    say(f"installing the project{f' [{extras}]' if extras else ''} from {LOCK.relative_to(ROOT)}")
    target = f".[{extras}]" if extras else "."
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-c", str(LOCK), "-e", target],
        cwd=ROOT,
        check=True,
    )  # fmt: skip
    stamp.write_text(digest)


def environment() -> dict[str, str]:
    """The venv first on PATH: the tests start `idp` and `idp mock-national` by name."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "VIRTUAL_ENV": str(VENV)}  # fmt: skip


def prepare_browser_tests() -> None:
    """axe-core from the npm registry (pinned by package-lock.json); Debian's chromium drives
    the pages. Without them the browser tests skip: say so, and what to install."""
    folder = ROOT / "tests" / "browser"
    if shutil.which("npm") is None:
        say("npm is missing: the browser tests will skip (install Node.js and npm)")
    elif not (folder / "node_modules" / "axe-core").exists():
        say("installing axe-core for the browser tests (npm ci)")
        subprocess.run(
            ["npm", "ci", "--prefix", str(folder), "--no-audit", "--no-fund", "--silent"],
            check=True,
        )
    if not any(shutil.which(b) for b in ("chromium", "chromium-browser")):
        say("chromium is missing: the browser tests will skip (apt-get install chromium)")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("dev", "test", "setup"):
        print(__doc__, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    ensure_venv()
    os.chdir(ROOT)
    if command == "setup":
        ensure_installed("")
        say(f"ready: {BIN / 'idp'}")
        return 0
    if command == "dev":
        ensure_installed("")
        run = [str(BIN / "idp"), "dev", *rest]
    else:
        ensure_installed("test")
        prepare_browser_tests()
        run = [str(PYTHON), "-m", "pytest", "-n", "2", *rest]
    # Replace this process, so Ctrl-C and the exit status are the command's own.
    os.execve(run[0], run, environment())  # noqa: S606 - a fixed program, no shell


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
