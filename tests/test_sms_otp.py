"""SMS gateways (outbox, and http against a real loopback server) and one-time codes: expiry,
wrong tries, resend cooldown and hourly cap, with time injected."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from idp import sms
from idp.config import SmsConfig
from idp.login import otp

PHONE = "0912345678"


class Gateway:
    """A fake SMS brandname provider on loopback: accepts, refuses, errors or hangs."""

    def __init__(self, mode="ok"):
        self.mode, self.requests = mode, []
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append((self.headers.get("Content-Type"), body))
                if outer.mode == "hang":
                    outer.release.wait(10)
                status, answer = {
                    "ok": (200, {"CodeResult": "100"}),
                    "refused": (200, {"CodeResult": "99", "Error": "bad brand"}),
                    "error": (500, {}),
                    "hang": (200, {}),
                }[outer.mode]
                payload = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway_for(app, monkeypatch):
    made = []

    def make(mode, **sms_options):
        gw = Gateway(mode)
        made.append(gw)
        monkeypatch.setenv("IDP_SMS_API_KEY", "key-123")
        app.config["IDP"] = replace(
            app.config["IDP"],
            sms=SmsConfig(
                gateway="http",
                http_url=gw.url,
                success_field="CodeResult",
                success_value="100",
                brandname="TINH",
                timeout=0.5,
                retries=1,
                **sms_options,
            ),
        )
        return gw

    yield make
    for gw in made:
        gw.close()


def test_outbox_gateway_writes_the_message(app):
    with app.app_context():
        sms.send(PHONE, "Mã xác thực: 123456")
        files = list(app.config["IDP"].resolved_sms_outbox_dir.glob("*.json"))
        assert len(files) == 1
        assert json.loads(files[0].read_text())["text"] == "Mã xác thực: 123456"


def test_http_gateway_success_sends_json_with_key_and_brandname(app, gateway_for):
    gw = gateway_for("ok")
    with app.app_context():
        sms.send(PHONE, "Mã 123456")
    content_type, body = gw.requests[0]
    assert content_type == "application/json"
    assert json.loads(body) == {
        "phone": "84912345678",
        "message": "Mã 123456",
        "brandname": "TINH",
        "api_key": "key-123",
    }


def test_http_gateway_form_format(app, gateway_for):
    gw = gateway_for("ok", http_format="form", phone_format="0")
    with app.app_context():
        sms.send(PHONE, "x")
    assert gw.requests[0][0] == "application/x-www-form-urlencoded"
    assert b"phone=0912345678" in gw.requests[0][1]


@pytest.mark.parametrize("mode, attempts", [("refused", 1), ("error", 2), ("hang", 2)])
def test_http_gateway_failures_raise(app, gateway_for, mode, attempts):
    gw = gateway_for(mode)
    with app.app_context(), pytest.raises(sms.SmsError):
        sms.send(PHONE, "x")
    assert len(gw.requests) == attempts


def test_code_verifies_once(app):
    with app.app_context():
        otp.send("login", "u1", PHONE, "Mã {code}, hiệu lực {minutes} phút")
        text = json.loads(
            next(app.config["IDP"].resolved_sms_outbox_dir.glob("*.json")).read_text()
        )["text"]
        code = text.split()[1].rstrip(",")
        assert "hiệu lực 5 phút" in text and len(code) == 6
        assert (
            otp.verify("login", "u1", "000000" if code != "000000" else "111111")
            is otp.Result.WRONG
        )
        assert otp.verify("login", "u1", code) is otp.Result.OK
        assert otp.verify("login", "u1", code) is otp.Result.EXPIRED  # single use


def _sent_code(app):
    files = sorted(app.config["IDP"].resolved_sms_outbox_dir.glob("*.json"))
    return json.loads(files[-1].read_text())["text"].split()[-1]


def test_code_expires(app, clock):
    with app.app_context():
        otp.send("login", "u1", PHONE, "Mã {code}")
        clock.advance(app.config["IDP"].otp.code_ttl + 1)
        assert otp.verify("login", "u1", _sent_code(app)) is otp.Result.EXPIRED


def test_five_wrong_tries_void_the_code(app):
    with app.app_context():
        otp.send("login", "u1", PHONE, "Mã {code}")
        code = _sent_code(app)
        wrong = "000000" if code != "000000" else "111111"
        results = [otp.verify("login", "u1", wrong) for _ in range(5)]
        assert results == [otp.Result.WRONG] * 4 + [otp.Result.LOCKED]
        assert otp.verify("login", "u1", code) is otp.Result.EXPIRED


def test_resend_cooldown_and_hourly_cap(app, clock):
    cfg = app.config["IDP"].otp
    with app.app_context():
        otp.send("login", "u1", PHONE, "Mã {code}")
        with pytest.raises(otp.SendRefused) as refused:
            otp.send("login", "u1", PHONE, "Mã {code}")
        assert 0 < refused.value.wait <= cfg.resend_cooldown
        for _ in range(cfg.max_per_hour - 1):
            clock.advance(cfg.resend_cooldown)
            otp.send("login", "u1", PHONE, "Mã {code}")
        clock.advance(cfg.resend_cooldown)
        if not app.config["IDP"].redis_url:  # Redis counts the hour on its own clock
            with pytest.raises(otp.SendRefused):
                otp.send("login", "u1", PHONE, "Mã {code}")


def test_failed_sms_stores_no_code(app, gateway_for):
    gateway_for("error")
    with app.app_context():
        with pytest.raises(sms.SmsError):
            otp.send("login", "u1", PHONE, "Mã {code}")
        assert otp.pending("login", "u1") is None


def test_mask():
    assert otp.mask("0912345689") == "09******89"
