"""`idp serve` under each engine ([server] engine = gunicorn, the default, or granian), as
operators run it: it serves; SIGHUP replaces every worker without dropping a request and the
new workers read the configuration again; a killed worker is replaced; SIGTERM stops with exit
status 0; /metrics sums every worker's counters (before and after a reload); a request line
over 8 KB gets 414; access lines carry client, request, status and duration, never a secret.
Nothing here is timed: each wait polls for what it waits for, under a generous deadline."""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from idp.config import Config, ConfigError, ServerConfig, validate
from idp.serve.gunicorn_engine import retire_after
from tests.flows.live import LiveHub, wait_for

ENGINES = ["granian", "gunicorn"]


class EngineHub(LiveHub):
    """A live hub on one engine, text logs, its own Prometheus folder."""

    def __init__(self, workdir, engine: str) -> None:  # noqa: ANN001
        self.metrics_dir = workdir / "metrics"
        self.metrics_dir.mkdir()
        # A CGI request variable in the server's environment (granian copies the environment
        # into every request): it must stand for no request (test_a_process_variable_…).
        env = {
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            "CONTENT_TYPE": "application/x-www-form-urlencoded",
        }
        super().__init__(workdir, env=env)
        self.engine = engine
        text = self.config_path.read_text().replace(
            "[server]\n", f'[server]\nengine = "{engine}"\nlog_format = "text"\n'
        )
        self.config_path.write_text(text)

    def workers(self) -> set[int]:
        """The live children of the `idp serve` process (its workers)."""
        found = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid and fields[0] != "Z":
                found.add(int(entry))
        return found


def wait_until(found, timeout: float = 60.0):  # noqa: ANN001, ANN201
    return wait_for(found, timeout=timeout, what="not seen in time")


def healthz_count(hub: EngineHub) -> float:
    text = requests.get(hub.url + "/metrics", timeout=10).text
    found = re.search(
        r'idp_http_requests_total\{endpoint="healthz",method="GET",'
        r'status="200"\} ([0-9.e+]+)',
        text,
    )
    return float(found.group(1)) if found else 0.0


def many_healthz(hub: EngineHub, count: int) -> list[int]:
    """`count` requests, each on its own connection, 6 at a time: both workers take some."""

    def one(_: int) -> int:
        return requests.get(
            hub.url + "/healthz", timeout=10, headers={"Connection": "close"}
        ).status_code

    with ThreadPoolExecutor(6) as pool:
        return list(pool.map(one, range(count)))


def pids_with_counters(hub: EngineHub) -> set[int]:
    return {
        int(m.group(1))
        for name in os.listdir(hub.metrics_dir)
        if (m := re.match(r"counter_(\d+)\.db$", name))
    }


def until_both_workers_answered(hub: EngineHub) -> int:
    """Requests in batches until both current workers have samples in the shared folder (which
    worker accepts a connection is the kernel's choice); how many were sent."""
    sent = 0

    def both() -> bool:
        nonlocal sent
        assert set(many_healthz(hub, 20)) == {200}
        sent += 20
        workers = hub.workers()
        return len(workers) == 2 and workers <= pids_with_counters(hub)

    wait_until(both)
    return sent


@pytest.fixture(scope="module", params=ENGINES)
def hub(request, tmp_path_factory):
    live = EngineHub(tmp_path_factory.mktemp(f"engine-{request.param}"), request.param)
    live.start()
    yield live
    live.stop()


def test_metrics_sum_every_workers_counters_before_and_after_a_reload(hub):
    before = healthz_count(hub)
    sent = until_both_workers_answered(hub)
    assert healthz_count(hub) == before + sent
    old = hub.workers()

    os.kill(hub.process.pid, signal.SIGHUP)
    wait_until(lambda: len(hub.workers()) == 2 and not hub.workers() & old)
    sent += until_both_workers_answered(hub)
    # The retired workers' counts stay in the sum; the new workers add theirs.
    assert healthz_count(hub) == before + sent


def test_sighup_replaces_every_worker_answering_every_request_and_reads_the_config_again(hub):
    """Every request is answered through a reload. gunicorn's workers share one listening
    socket and none of its connections is lost. A retiring granian worker closes, unanswered,
    the connections it had just accepted and not read yet (a few per reload under load; each
    request unread, so safe to send again, as nginx's proxy_next_upstream does for a GET): the
    client here sends such a request once more, as nginx would, and that is counted."""
    assert "registration_endpoint" not in hub.metadata()
    hub.config_path.write_text(hub.config_path.read_text() + "\n[registration]\nenabled = true\n")
    old = hub.workers()
    failures: list[str] = []
    resent = [0]
    answered = [0]
    stop = threading.Event()

    def ask() -> int:
        try:
            return requests.get(hub.url + "/healthz", timeout=30).status_code
        except requests.ConnectionError as exc:
            if "without response" not in str(exc) and "reset by peer" not in str(exc):
                raise
            resent[0] += 1
            return requests.get(hub.url + "/healthz", timeout=30).status_code

    def keep_asking() -> None:
        while not stop.is_set():
            try:
                status = ask()
                if status != 200:
                    failures.append(str(status))
                answered[0] += 1
            except requests.RequestException as exc:
                failures.append(repr(exc))

    askers = [threading.Thread(target=keep_asking) for _ in range(3)]
    for asker in askers:
        asker.start()
    try:
        os.kill(hub.process.pid, signal.SIGHUP)
        wait_until(lambda: len(hub.workers()) == 2 and not hub.workers() & old)
        seen = answered[0]
        wait_until(lambda: answered[0] > seen + 20)  # the new workers answer too
    finally:
        stop.set()
        for asker in askers:
            asker.join()
    assert failures == []
    if hub.engine == "gunicorn":
        assert resent[0] == 0
    assert hub.metadata()["registration_endpoint"] == hub.url + "/oauth/register"
    assert hub.process.poll() is None


def test_a_killed_worker_is_replaced_and_the_hub_keeps_serving(hub):
    old = hub.workers()
    victim = min(old)
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: len(hub.workers()) == 2 and victim not in hub.workers())
    # Until the replacement answers too: a granian master stopped while a worker is still
    # starting leaves that worker behind (README: The HTTP server), which this must not test.
    until_both_workers_answered(hub)
    assert hub.process.poll() is None


def test_a_process_variable_named_like_a_request_header_stands_for_no_request(hub):
    """Red team: with CONTENT_TYPE in granian's environment, a body without a Content-Type
    was read as a form (and a bearer token in it accepted)."""
    answer = requests.post(hub.url + "/token", data=b"grant_type=client_credentials", timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"  # "Use …-urlencoded", not invalid_client


def test_a_malformed_chunked_body_gets_400_without_a_traceback(hub):
    """Red team: gunicorn's chunk parser raised from inside the input guard (a 500)."""
    with socket.create_connection(("127.0.0.1", hub.port), timeout=10) as raw:
        raw.sendall(
            b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-"
            b"urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n c\r\ngrant_type=x\r\n0\r\n\r\n"
        )
        answer = raw.recv(200)
    assert answer.startswith(b"HTTP/1.1 400"), answer
    time.sleep(0.3)
    assert "Traceback" not in hub.log.read_text()


def read_answer(raw: socket.socket) -> bytes:
    """Everything the hub sends until it closes its side."""
    answer = b""
    while chunk := raw.recv(65536):
        answer += chunk
    return answer


def declared_body(answer: bytes) -> tuple[bytes, int]:
    """The bytes after an answer's head, and the length its Content-Length declares (0 if
    none)."""
    head, _, content = answer.partition(b"\r\n\r\n")
    length = re.search(rb"(?i)content-length: *(\d+)", head)
    return content, int(length.group(1)) if length else 0


def test_an_answer_to_a_body_left_unread_reaches_the_client_whole(hub):
    """The hub answers 413 without reading a body over its 64 KiB limit. Closing at once, with
    the body unread in the socket, would reset the connection and could cut the answer short:
    the worker reads the rest first (gunicorn: up to 64 KiB more, until the client closes)."""
    body = b"grant_type=" + b"a" * 66_000
    with socket.create_connection(("127.0.0.1", hub.port), timeout=10) as raw:
        raw.sendall(
            b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-"
            b"urlencoded\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        answer = read_answer(raw)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    content, length = declared_body(answer)
    assert len(content) == length > 0


def test_a_slow_reader_that_sends_more_still_gets_its_whole_answer(hub):
    """Red team: a client with a small receive window asks for the stylesheet (about 10 KB),
    then sends another request before reading. Closing the socket with part of the answer
    still queued made the second request's bytes reset the connection, and the rest of the
    answer was lost. The worker lingers while any of it is queued, as gunicorn does."""
    ask = b"GET /static/hub.css HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.socket() as raw:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.settimeout(10)
        raw.connect(("127.0.0.1", hub.port))
        raw.sendall(ask)
        time.sleep(0.1)  # the answer is written meanwhile, as much as the window takes
        raw.sendall(ask.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        time.sleep(0.2)
        answer = read_answer(raw)  # granian, keeping connections, answers both
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    content, length = declared_body(answer)
    assert len(content) >= length > 8192
    assert content[:length].rstrip().endswith(b"}")  # the stylesheet's end


def test_a_client_waiting_for_100_continue_gets_it_then_its_answer(hub):
    """Expect: 100-continue (curl's habit for larger bodies): the interim answer comes before
    the body is sent, then the real one (the gunicorn worker does not hold it back corked)."""
    body = b"grant_type=client_credentials"
    with socket.create_connection(("127.0.0.1", hub.port), timeout=10) as raw:
        raw.sendall(
            b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-"
            b"urlencoded\r\nConnection: close\r\nExpect: 100-continue\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        interim = raw.recv(100)
        raw.sendall(body)
        answer = read_answer(raw)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]  # no client credentials
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"


def server_side_owner(hub_port: int, client_port: int) -> int:
    """The socket inode of the hub's end of a loopback connection: 0 once no process holds
    it (closed, the kernel finishing the close on its own)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if (
            int(local.split(":")[1], 16) == hub_port
            and int(remote.split(":")[1], 16) == client_port
        ):
            return int(fields[9])
    return 0


def test_a_gunicorn_worker_closes_at_once_when_the_client_has_sent_everything(tmp_path):
    """The sync worker does not linger after a request read to its end: it lets the
    connection go right after the FIN the client reads. gunicorn 27 alone keeps it, reading,
    until the client closes or 2 s pass: time a worker serves no one. The client, keeping its
    end open, looks for up to 1 s; the worker needs microseconds between FIN and close."""

    def released(raw: socket.socket) -> None:
        wait_for(
            lambda: server_side_owner(live.port, raw.getsockname()[1]) == 0,
            timeout=1.0,
            what="the worker still holds the connection (lingering)",
        )

    live = EngineHub(tmp_path, "gunicorn")
    live.start()
    try:
        with socket.create_connection(("127.0.0.1", live.port), timeout=10) as raw:
            raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_answer(raw).startswith(b"HTTP/1.1 200")
            released(raw)
        # A body read to its end closes as promptly.
        with socket.create_connection(("127.0.0.1", live.port), timeout=10) as raw:
            raw.sendall(
                b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-"
                b"urlencoded\r\nContent-Length: 12\r\n\r\ngrant_type=x"
            )
            assert read_answer(raw).startswith(b"HTTP/1.1 40")
            released(raw)
    finally:
        live.stop()


def test_a_request_line_over_8_kb_gets_414(hub):
    with socket.create_connection(("127.0.0.1", hub.port), timeout=10) as raw:
        raw.sendall(b"GET /" + b"a%s" * 4000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = raw.recv(200)
    assert answer.startswith(b"HTTP/1.1 414")
    # Just under the limit is still the app's (a 404 for an unknown path).
    line_room = 8190 - len("GET / HTTP/1.1")
    assert requests.get(hub.url + "/" + "a" * line_room, timeout=10).status_code == 404
    assert "Traceback" not in hub.log.read_text()


def test_access_lines_name_the_client_request_status_and_time_but_no_secret(hub):
    requests.get(
        hub.url + "/password/reset/S3cretLink?code=S3cretCode&lang=vi",
        headers={"Referer": hub.url + "/activate/S3cretRef", "User-Agent": "engine-test"},
        timeout=10,
    )

    def line() -> str | None:
        lines = [x for x in hub.log.read_text().splitlines() if "engine-test" in x]
        return lines[0] if lines else None

    found = wait_until(line, timeout=10)
    assert "S3cret" not in hub.log.read_text()
    assert '"GET /password/reset/[redacted]?code=[redacted]&lang=vi HTTP/1.1" 400' in found
    assert "127.0.0.1 " in found.split('"')[0]  # the client, before the request
    assert "/activate/[redacted]" in found
    if hub.engine == "granian":  # the app's line; gunicorn's default format has no duration
        assert re.search(r" \d+\.\d ms$", found)


@pytest.mark.parametrize("engine", ENGINES)
def test_sigterm_stops_gracefully_with_exit_status_0(engine, tmp_path):
    live = EngineHub(tmp_path, engine)
    live.start()
    try:
        assert requests.get(live.url + "/healthz", timeout=10).status_code == 200
        workers = live.workers()
        live.process.send_signal(signal.SIGTERM)
        assert live.process.wait(timeout=60) == 0
        assert not any(os.path.exists(f"/proc/{pid}") for pid in workers)
        assert "Traceback" not in live.log.read_text()
    finally:
        live.stop()


def test_worker_lifetime_reaches_each_engine(monkeypatch):
    import granian.server

    from idp.serve import gunicorn_engine
    from idp.serve.granian_engine import run_granian

    seen: dict = {}

    class FakeServer:
        def __init__(self, target: str, **options) -> None:
            seen.update(options, target=target)

        def serve(self) -> None:
            seen["served"] = True

    monkeypatch.setattr(granian.server, "Server", FakeServer)
    config = Config(server=ServerConfig(max_worker_lifetime=3600, workers=3, threads=4))
    run_granian(config, "127.0.0.1", 8000)
    assert seen["served"] and seen["factory"] and seen["target"].endswith(":worker_app")
    assert seen["workers_lifetime"] == 3600 and seen["workers"] == 3
    assert seen["blocking_threads"] == 4 and seen["respawn_failed_workers"]
    assert seen["log_access"] is False

    run_granian(Config(), "127.0.0.1", 8000)
    assert seen["workers_lifetime"] is None

    options = gunicorn_engine.options(config, "127.0.0.1", 8000)
    assert "post_worker_init" in options and options["worker_class"] == "gthread"
    assert "post_worker_init" not in gunicorn_engine.options(Config(), "::1", 8000)


def test_a_gunicorn_worker_stops_taking_requests_when_its_lifetime_is_over():
    class Worker:
        alive = True

    worker = Worker()
    retire_after(worker, 0.01).join()
    assert worker.alive is False


@pytest.mark.parametrize(("timeout", "interval"), [(30, 1.0), (2, 0.5)])
def test_a_gunicorn_worker_tells_the_master_it_lives_at_least_once_a_second(
    monkeypatch, timeout, interval
):
    """Not before every connection (a system call each), yet never so seldom that the master,
    which stops a worker silent for `timeout` seconds, could take a busy one for stuck."""
    from types import SimpleNamespace

    from idp.serve.gunicorn_engine import PromptCloseSyncWorker

    told, clock = [], [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    worker = object.__new__(PromptCloseSyncWorker)
    worker.cfg = SimpleNamespace(timeout=timeout)
    worker.tmp = SimpleNamespace(notify=lambda: told.append(clock[0]))
    for _ in range(200):  # a busy worker: a connection every 10 ms
        worker.notify()
        clock[0] += 0.01
    assert told[0] == 1000.0  # at once when it starts
    gaps = [later - earlier for earlier, later in zip(told, told[1:], strict=False)]
    assert gaps and max(gaps) < interval + 0.011
    assert len(told) <= 2 / interval + 1


@pytest.mark.parametrize(
    "server",
    [
        ServerConfig(engine="uvicorn"),
        ServerConfig(max_worker_lifetime=30),
    ],
)
def test_an_unknown_engine_or_a_short_worker_lifetime_is_refused(server):
    with pytest.raises(ConfigError):
        validate(Config(server=server))


def test_granian_requests_carry_no_variable_of_the_process(monkeypatch):
    """granian copies the process environment into every environ; the app sees the request."""
    from idp.serve.granian_engine import GranianEnviron

    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("IDP_KEYS_PASSPHRASE", "not-for-requests")
    seen: dict = {}

    def app(environ, start_response):  # noqa: ANN001, ANN202
        seen.update(environ)
        start_response("200 OK", [])
        return [b""]

    wrapped = GranianEnviron(app)
    request = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "QUERY_STRING": "", "HTTP_HOST": "h"}
    wrapped({**os.environ, **request, "REMOTE_ADDR": "10.0.0.1"}, lambda *a: None)
    assert "HTTP_PROXY" not in seen and "IDP_KEYS_PASSPHRASE" not in seen and "PATH" not in seen
    assert seen["HTTP_HOST"] == "h" and seen["REMOTE_ADDR"] == "10.0.0.1"


def test_granians_own_lines_follow_the_log_format():
    import json
    import logging

    from idp.serve.granian_engine import GranianJsonLines, log_config

    record = logging.LogRecord("_granian", logging.INFO, "", 0, "Started worker-%d", (1,), None)
    line = json.loads(GranianJsonLines().format(record))
    assert line["message"] == "Started worker-1" and line["level"] == "info"
    assert line["time"].endswith("Z")
    assert log_config("json")["formatters"]["generic"]["()"].endswith("GranianJsonLines")
    assert log_config("text")["handlers"]["console"]["stream"] == "ext://sys.stderr"
