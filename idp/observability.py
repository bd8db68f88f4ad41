"""Health, readiness, Prometheus metrics and structured logs with a request id.

- `/healthz`: the process answers; it touches no dependency. `/readyz`: the database and the
  short-lived store answer and a signing key is loaded, within `server.readiness_timeout`;
  otherwise 503 with what failed or did not answer (a balancer takes the worker out). It also
  names connectors that are misconfigured or whose upstream is failing (`readiness`).
- `/metrics`: Prometheus text. Under `idp serve` (granian or gunicorn) every worker writes its
  samples to a shared folder (prometheus-client's multiprocess mode), so any worker answers for
  all.
  Only the addresses in `server.metrics_allow` may read it.
- Every request gets an id (a well-formed `X-Request-ID` from the proxy, or a new one), echoed
  in the response and in each log line; with `server.log_format = "json"` the logs are one JSON
  object per line, with one access line per request. Text logs get their access line from the
  app too under granian (whose own access log would not be redacted), from gunicorn under it.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import secrets
import sys
import time

from flask import Flask, Response, current_app, g, has_request_context, jsonify, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

from . import readiness
from .config import networks

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
access_log = logging.getLogger("idp.access")
# Paths whose last part is a secret (a reset, activation, phone-proof, email or notice link):
# a reader of the logs must not be able to open them.
SECRET_PATH = re.compile(
    r"(/(?:password/+reset|activate|register/+phone|email/+confirm|account/+report"
    r"|account/+second-factor/+unlock)/+)(?!resend(?:$|[/?#\s]))[^/?#\s\"]+"
)
# Query parameters that carry codes, tokens or secrets (an upstream's callback, a logout hint).
SECRET_QUERY = re.compile(
    r"(?i)((?:^|[?&;])(?:code|token|access_token|refresh_token|id_token|id_token_hint"
    r"|logout_token|client_secret|client_assertion|code_verifier|password|secret|ticket)=)"
    r"[^&;#\s\"]*"
)
REDACTED = "[redacted]"


def redact(target: str) -> str:
    """A path, query string, URL or request line with its secrets replaced."""
    if not target:
        return target
    target = SECRET_PATH.sub(lambda m: m.group(1) + REDACTED, target)
    return SECRET_QUERY.sub(lambda m: m.group(1) + REDACTED, target)


REQUESTS = Counter(
    "idp_http_requests_total", "HTTP requests by endpoint, method and status.",
    ["endpoint", "method", "status"],
)  # fmt: skip
LATENCY = Histogram(
    "idp_http_request_duration_seconds", "Time to answer, by endpoint.", ["endpoint"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)  # fmt: skip
SIGN_INS = Counter(
    "idp_sign_ins_total", "Sign-in attempts by method and outcome.", ["method", "outcome"]
)
TOKENS = Counter("idp_tokens_issued_total", "Tokens issued by grant type.", ["grant_type"])
BACKCHANNEL = Counter(
    "idp_backchannel_deliveries_total", "Back-channel logout deliveries by outcome.", ["outcome"]
)
SMS = Counter(
    "idp_sms_sends_total", "Text messages handed to the SMS gateway, by outcome.", ["outcome"]
)
SMS_EVENTS = {"otp_sent": "sent", "otp_send_failed": "failed"}
SIGN_IN_EVENTS = {
    "login_success": "success",
    "login_failure": "failure",
    "login_throttled": "throttled",
    "login_refused": "refused",
    "otp_failed": "failure",
}


def count_audit_event(event: str, detail: dict) -> None:
    """Sign-in and back-channel metrics come from the audit events already recorded."""
    if event == "backchannel_logout":
        BACKCHANNEL.labels(outcome=str(detail.get("outcome", "?"))).inc()
        return
    if event in SMS_EVENTS:
        SMS.labels(outcome=SMS_EVENTS[event]).inc()
        return
    outcome = SIGN_IN_EVENTS.get(event)
    if outcome:
        method = str(detail.get("method") or "password")
        SIGN_INS.labels(method=method.split("/")[0][:40], outcome=outcome).inc()


class JsonFormatter(logging.Formatter):
    converter = time.gmtime  # the "Z" below says UTC

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            data["request_id"] = request_id
        for key in ("method", "path", "status", "duration_ms", "remote_addr", "endpoint"):
            if hasattr(record, key):
                data[key] = getattr(record, key)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def configure_logging(log_format: str) -> None:
    """One handler on stderr for the hub's loggers, JSON or text."""
    # No line carries the caller's file, thread or process name: skip collecting them on every
    # record (the logging HOWTO's "Optimization"; findCaller walks the stack per access line).
    # The process id stays: gunicorn's own lines print it ("%(process)d"), and without it
    # every one of them (an over-long request line's warning) became a "Logging error".
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    logger = logging.getLogger("idp")
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _allowed(networks: list) -> bool:
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(address in network for network in networks)


def init_app(app: Flask) -> None:
    config = app.config["IDP"]
    allowed = networks(config.server.metrics_allow)
    json_access = config.server.log_format == "json"
    # Text access lines: gunicorn writes its own (redacted by idp.serve); granian's are off.
    text_access = not json_access and config.server.engine == "granian"

    # Metric children by label values: prometheus-client's labels() validates and locks on
    # every call, which costs more than the increment on a request that does little else.
    counters: dict[tuple[str, str, int], object] = {}
    histograms: dict[str, object] = {}

    @app.before_request
    def start_request() -> None:
        given = request.environ.get("HTTP_X_REQUEST_ID", "")  # the header, without EnvironHeaders
        g.request_id = given if REQUEST_ID.fullmatch(given) else secrets.token_hex(16)
        g.request_started = time.perf_counter()

    @app.after_request
    def finish_request(response: Response) -> Response:
        state = g._get_current_object()  # one context lookup, not one per attribute
        req = request._get_current_object()
        request_id = state.get("request_id", "")
        response.headers["X-Request-ID"] = request_id
        elapsed = time.perf_counter() - state.get("request_started", time.perf_counter())
        endpoint = req.endpoint or "unknown"
        method, status = req.method, response.status_code
        counter = counters.get((endpoint, method, status))
        if counter is None:
            counter = counters[endpoint, method, status] = REQUESTS.labels(
                endpoint, method, str(status)
            )
        counter.inc()
        histogram = histograms.get(endpoint)
        if histogram is None:
            histogram = histograms[endpoint] = LATENCY.labels(endpoint)
        histogram.observe(elapsed)
        if json_access:
            path = redact(req.path)
            access_log.info(
                "%s %s %s",
                method,
                path,
                status,
                extra={
                    "request_id": request_id,
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "remote_addr": req.remote_addr,
                    "endpoint": endpoint,
                },
            )
        elif text_access:
            # Like gunicorn's: client, request line, status, size, Referer, agent, duration.
            environ = req.environ
            target = redact(req.full_path if req.query_string else req.path)
            access_log.info(
                '%s "%s %s %s" %s %s "%s" "%s" %.1f ms',
                req.remote_addr,
                method,
                target,
                environ.get("SERVER_PROTOCOL", "-"),
                status,
                response.calculate_content_length() or "-",
                redact(environ.get("HTTP_REFERER", "-")),
                environ.get("HTTP_USER_AGENT", "-"),
                elapsed * 1000,
            )
        return response

    @app.get("/healthz")
    def healthz():  # noqa: ANN202
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz():  # noqa: ANN202
        problems, connectors = readiness.report(current_app._get_current_object())
        response = jsonify(
            status="ready" if not problems else "not ready",
            problems=problems,
            connectors=connectors,
        )
        response.status_code = 503 if problems else 200
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/metrics")
    def metrics():  # noqa: ANN202
        if not _allowed(allowed):
            return jsonify(error="forbidden"), 403
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            prometheus_multiprocess.MultiProcessCollector(registry)
            body = generate_latest(registry)
        else:
            body = generate_latest()
        return Response(body, mimetype=CONTENT_TYPE_LATEST)
