"""Browser tests: `idp dev` (the hub under gunicorn, the mock national portal, the demo client)
started as the README says, driven by Playwright in Debian's chromium.

Chromium is never downloaded by Playwright: the tests use /usr/bin/chromium (`.ci/run` installs
it with apt). axe-core comes from the npm registry into tests/browser/node_modules (`npm ci`).
Without chromium or Playwright the tests skip, unless IDP_REQUIRE_BROWSER=1 (set by `.ci/run`),
where they fail instead.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.flows.live import free_port

HERE = Path(__file__).parent
REPO = HERE.parent.parent
ARTIFACTS = REPO / "test-artifacts"
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("IDP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_SECONDS = 120


def _missing(what: str) -> None:
    if os.environ.get("IDP_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests need {what} (IDP_REQUIRE_BROWSER=1)")
    pytest.skip(f"browser tests need {what}")


def pytest_collection_modifyitems(items):  # noqa: ANN001, ANN201
    """One `idp dev` stack for all browser tests: keep them on one xdist worker."""
    for item in items:
        if str(item.path).startswith(str(HERE)):
            item.add_marker(pytest.mark.xdist_group("browser"))


@dataclass
class DevStack:
    hub: str
    mock: str
    demo: str
    vneid: str
    instance: Path
    output: list[str]

    def sms_codes(self) -> list[str]:
        """The one-time codes sent so far, oldest first (the SMS outbox of `idp dev`)."""
        import re

        folder = self.instance / "sms-outbox"
        messages = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
        codes = []
        for path in messages:
            text = json.loads(path.read_text(encoding="utf-8"))["text"]
            found = re.search(r"\b(\d{6})\b", text)
            if found:
                codes.append(found.group(1))
        return codes

    def add_user(self, username: str, full_name: str, phone: str) -> None:
        """An account of its own for a test that sends SMS codes: a number gets one code a
        minute and five an hour, so tests sharing a demo account's number would starve."""
        from idp.dev import DEMO_PASSWORD

        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "idp",
                "--config",
                str(self.instance / "dev-config.toml"),
                "users",
                "add",
                "--username",
                username,
                "--password",
                DEMO_PASSWORD,
                "--full-name",
                full_name,
                "--email",
                f"{username}@example.vn",
                "--phone",
                phone,
            ],  # fmt: skip
            capture_output=True,
            text=True,
            timeout=120,
            env={k: v for k, v in os.environ.items() if not k.startswith("IDP_")},
        )
        assert result.returncode == 0, result.stderr

    def mail_link(
        self, to: str, path: str, within: float = 20.0, other_than: str | None = None
    ) -> str:
        """The newest link containing `path` in a mail to `to` (the mail outbox of `idp dev`;
        mail leaves from a background queue, so wait for it, bounded), and not `other_than`
        (an earlier link, when waiting for the next mail)."""
        import re
        from email import message_from_bytes, policy

        deadline = time.monotonic() + within
        while True:
            folder = self.instance / "outbox"
            messages = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
            for path_ in reversed(messages):
                mail = message_from_bytes(path_.read_bytes(), policy=policy.default)
                if mail["To"] != to:
                    continue
                found = re.search(r"https?://\S+" + re.escape(path) + r"\S+", mail.get_content())
                if found and found.group(0) != other_than:
                    return found.group(0)
                if found:
                    break  # the newest is the old one: the next mail is not there yet
            assert time.monotonic() < deadline, f"no mail with {path} to {to}"
            time.sleep(0.2)


@pytest.fixture(scope="session")
def dev_stack(tmp_path_factory):
    """`idp dev` on spare loopback ports, in its own folder; stopped with SIGTERM at the end."""
    workdir = tmp_path_factory.mktemp("idp-dev")
    ports = [free_port() for _ in range(4)]
    command = [
        sys.executable,
        "-m",
        "idp",
        "dev",
        "--port",
        str(ports[0]),
        "--mock-port",
        str(ports[1]),
        "--demo-port",
        str(ports[2]),
        "--vneid-port",
        str(ports[3]),
        "--instance-dir",
        str(workdir / "instance-dev"),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    process = subprocess.Popen(
        command,
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        for line in process.stdout:
            output.append(line)
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + STARTUP_SECONDS
    ready = False
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if "Stop with Ctrl-C." in lines.get(timeout=1):
                ready = True
                break
        except queue.Empty:
            continue
    if not ready:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail("idp dev did not start:\n" + "".join(output[-60:]))
    stack = DevStack(
        hub=f"http://127.0.0.1:{ports[0]}",
        mock=f"http://127.0.0.1:{ports[1]}",
        demo=f"http://127.0.0.1:{ports[2]}",
        vneid=f"http://127.0.0.1:{ports[3]}",
        instance=workdir / "instance-dev",
        output=output,
    )
    yield stack
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        pytest.fail("idp dev did not stop on SIGTERM")
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # anything left of the group
        except ProcessLookupError:
            pass


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package (pip)")
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        _missing(f"chromium at {CHROMIUM} (apt install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def context(browser):
    """A fresh browser profile per test (no cookies shared between journeys)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    return context.new_page()


def sign_in_as_admin(page, stack: DevStack) -> None:  # noqa: ANN001
    """quantri01 with a password and an SMS code. A code may be sent to a number once a minute
    (and five times an hour): wait for the "send" button to come back if one just went."""
    import re

    from playwright.sync_api import expect

    from idp.dev import DEMO_PASSWORD

    page.goto(stack.hub + "/admin")
    page.fill("#username", "quantri01")
    page.fill("#password", DEMO_PASSWORD)
    page.click("button.primary")
    page.wait_for_url(re.compile(r".*/interaction/[^/]+/otp.*"))
    page.locator("form.resend button:not([disabled])").click(timeout=90_000)
    expect(page.locator("#code")).to_be_visible()
    page.fill("#code", stack.sms_codes()[-1])
    page.click("form:has(#code) button[type=submit]")
    page.wait_for_url(stack.hub + "/admin")


@pytest.fixture(scope="session")
def admin_state(browser, dev_stack: DevStack) -> dict:
    """One admin sign-in for the console tests of the session (its cookies), so they do not
    each spend one of the admin number's few SMS codes an hour."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    try:
        sign_in_as_admin(ctx.new_page(), dev_stack)
        return ctx.storage_state()
    finally:
        ctx.close()


@pytest.fixture
def admin_page(browser, admin_state: dict):
    """A page of a fresh context already signed in to the admin console."""
    ctx = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="vi-VN", storage_state=admin_state
    )
    ctx.set_default_timeout(15_000)
    yield ctx.new_page()
    ctx.close()


def save_screenshots(page, name: str) -> list[Path]:  # noqa: ANN001
    """The current page at 390 px (a phone) and 1280 px (a desktop) wide, into test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    paths = []
    for width, height in ((390, 844), (1280, 900)):
        page.set_viewport_size({"width": width, "height": height})
        path = ARTIFACTS / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        paths.append(path)
    page.set_viewport_size({"width": 1280, "height": 900})
    return paths


def serious_violations(page) -> list[dict]:  # noqa: ANN001
    """axe-core's serious and critical WCAG 2.1 A/AA findings on the current page."""
    if not AXE.exists():
        _missing(f"axe-core at {AXE} (npm ci --prefix tests/browser)")
    # Evaluated through the DevTools protocol, which the page's CSP does not govern.
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {runOnly: {type: "tag",
                values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)}));
        }"""
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]
