"""Whether a connector can be offered right now, so a citizen is never sent to a dead host.

Two kinds of trouble, both shown on the sign-in page (the button is marked unavailable, with the
hub's message) and in /readyz's detail:

- configuration: the variable named by `client_secret_env` is unset — found at start
  (`idp serve` names it) and on every check, since the token exchange could never succeed;
- the upstream failing: its discovery, JWKS or token endpoint did not answer. Any worker that
  meets that marks the connector failing in the short-lived store for
  `broker.upstream_retry_after` seconds, so every worker stops sending browsers there. Before a
  browser is sent upstream, the upstream is probed (its discovery document, else its JWKS) unless
  a probe succeeded within `broker.upstream_check_interval` seconds, with a short time-out.
"""

from __future__ import annotations

import logging
import os
import re

import requests
from flask import current_app

from ..clock import now
from ..config import Config, ConnectorConfig
from ..store import kv
from .upstream import Connector, UpstreamError

log = logging.getLogger(__name__)

# What says the upstream itself is failing, not this one person's sign-in: no answer, or a
# server error from its discovery, JWKS or token endpoint.
SERVER_ERROR = re.compile(r"HTTP 5\d\d")


def upstream_trouble(exc: UpstreamError) -> bool:
    return exc.reason == "unreachable" or (
        exc.reason in ("error_answer", "bad_answer") and bool(SERVER_ERROR.search(exc.detail))
    )


def config_problem(c: ConnectorConfig) -> str | None:
    """A configuration mistake that would make every sign-in through it fail."""
    if not c.client_secret_env:
        return "client_secret_env is empty: the hub cannot authenticate to the upstream"
    if not os.environ.get(c.client_secret_env):
        return f"environment variable {c.client_secret_env} (client_secret_env) is not set"
    return None


def _probe_url(c: ConnectorConfig) -> str:
    return c.discovery_url or c.jwks_uri


def probe(c: ConnectorConfig, timeout: float) -> str | None:
    """One GET of the upstream's discovery document (else its JWKS): None when it answers."""
    url = _probe_url(c)
    try:
        response = requests.get(url, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        return f"{url}: {type(exc).__name__}"
    if response.status_code != 200:
        return f"{url}: HTTP {response.status_code}"
    try:
        response.json()
    except ValueError:
        return f"{url}: not JSON"
    return None


def start_problems(config: Config) -> dict[str, str]:
    """What `idp serve` names at start: configuration mistakes and unreachable discovery."""
    found = {}
    for name, c in config.connectors.items():
        problem = config_problem(c) or probe(c, config.broker.upstream_probe_timeout)
        if problem:
            found[name] = problem
    return found


def mark_failing(name: str, exc: UpstreamError) -> None:
    """After an upstream failure: stop offering this connector for a while, on every worker."""
    if not upstream_trouble(exc):
        return
    cfg = current_app.config["IDP"].broker
    kv().put(
        f"upstream-failing:{name}",
        {"detail": exc.detail[:200], "since": now()},
        cfg.upstream_retry_after,
    )
    kv().delete(f"upstream-ok:{name}")
    log.warning("connector %s marked unavailable: %s", name, exc.detail[:200])


def unavailable(name: str) -> str | None:
    """Why this connector is not offered now (for the page and /readyz), or None."""
    c = current_app.config["IDP"].connectors[name]
    problem = config_problem(c)
    if problem:
        return problem
    failing = kv().get(f"upstream-failing:{name}")
    return f"upstream failing: {failing.get('detail', '')}" if failing else None


def ensure_reachable(connector: Connector) -> None:
    """Before sending a browser upstream: raise UpstreamError unless it is likely to answer."""
    name, c = connector.name, connector.config
    problem = unavailable(name)
    if problem:
        raise UpstreamError("unreachable", problem)
    cfg = current_app.config["IDP"].broker
    if kv().get(f"upstream-ok:{name}"):
        return
    problem = probe(c, min(c.timeout, cfg.upstream_probe_timeout))
    if problem:
        error = UpstreamError("unreachable", problem)
        mark_failing(name, error)
        raise error
    if cfg.upstream_check_interval > 0:
        kv().put(f"upstream-ok:{name}", {"at": now()}, cfg.upstream_check_interval)


def summary(config: Config) -> dict[str, str]:
    """Every connector's state in a word or a reason, for /readyz."""
    return {name: unavailable(name) or "available" for name in config.connectors}
