"""Health, readiness, metrics and request ids."""

from __future__ import annotations

import json
import logging

from idp.observability import JsonFormatter, RequestIdFilter


def test_healthz_readyz_and_request_ids(app):
    web = app.test_client()
    assert web.get("/healthz").get_json() == {"status": "ok"}
    ready = web.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["problems"] == {}
    echoed = web.get("/healthz", headers={"X-Request-ID": "lb-42.a"})
    assert echoed.headers["X-Request-ID"] == "lb-42.a"
    replaced = web.get("/healthz", headers={"X-Request-ID": "bad id\u00e9" * 10})
    assert (
        replaced.headers["X-Request-ID"] != "bad id" and len(replaced.headers["X-Request-ID"]) == 32
    )
    # A trailing newline (which `$` alone would let through) is no id either: not a 500.
    trailing = web.get("/healthz", environ_overrides={"HTTP_X_REQUEST_ID": "abc\n"})
    assert trailing.status_code == 200 and len(trailing.headers["X-Request-ID"]) == 32


def test_metrics_count_requests_sign_ins_and_tokens_from_loopback_only(hub, app):
    client_id, secret = hub.add_client(first_party=True)
    hub.add_user()
    hub.tokens(client_id, secret)
    hub.web.get("/healthz")
    text = hub.web.get("/metrics").get_data(as_text=True)
    assert 'idp_http_requests_total{endpoint="healthz",method="GET",status="200"}' in text
    assert 'idp_sign_ins_total{method="password",outcome="success"}' in text
    assert 'idp_tokens_issued_total{grant_type="authorization_code"}' in text
    assert "idp_http_request_duration_seconds_bucket" in text
    outside = hub.web.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert outside.status_code == 403


def test_json_log_lines_carry_the_request_id(app):
    record = logging.LogRecord("idp.access", logging.INFO, __file__, 1, "GET / 200", (), None)
    with app.test_request_context("/", headers={"X-Request-ID": "abc"}):
        app.preprocess_request()
        RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "abc" and line["message"] == "GET / 200"
    assert line["time"].endswith("Z") and line["level"] == "info"


def test_the_server_module_leaves_prometheus_to_the_workers():
    """`idp serve` sets PROMETHEUS_MULTIPROC_DIR before gunicorn forks; a master that had
    already imported prometheus_client would give every worker private, unscraped metrics
    (an empty /metrics under gunicorn)."""
    import subprocess
    import sys

    probe = "import sys, idp.cli, idp.serve, idp.files, idp.broker.health; "
    probe += "print('prometheus_client' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
