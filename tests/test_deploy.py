"""deploy/ is checked by the tools that will read it: systemd-analyze verifies the units,
promtool the alert rules, and every metric the alerts and the dashboard query is one the hub
exports at /metrics."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def need(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        reason = f"{program} is not installed (apt-get install {program.replace('-analyze', '')})"
        if os.environ.get("IDP_REQUIRE_SERVICES") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return found


def test_systemd_units_verify(tmp_path):
    verify = need("systemd-analyze")
    idp = shutil.which("idp")
    units = sorted((DEPLOY / "systemd").glob("idp*.*"))
    assert {u.name for u in units} >= {"idp.service", "idp-backup.timer", "idp-keys-rotate.timer"}
    for unit in units:  # the install path as on this machine, so ExecStart= exists
        (tmp_path / unit.name).write_text(unit.read_text().replace("/opt/idp/.venv/bin/idp", idp))
    done = subprocess.run(
        [verify, "verify", *[str(tmp_path / u.name) for u in units]],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    service = (DEPLOY / "systemd" / "idp.service").read_text()
    for hardening in ("ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                      "User=idp", "Restart=on-failure", "ReadWritePaths="):  # fmt: skip
        assert hardening in service


def test_alert_rules_pass_promtool():
    promtool = need("promtool")
    done = subprocess.run(
        [promtool, "check", "rules", str(DEPLOY / "prometheus" / "idp-alerts.yml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 7 rules found" in done.stdout


def exported(web) -> set[str]:
    """Every sample name /metrics can show, from its families (labelled ones too)."""
    text = web.get("/metrics").get_data(as_text=True)
    names = set()
    for family in text_string_to_metric_families(text):
        for suffix in SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def test_dashboard_and_alerts_query_only_exported_metrics(web):
    dashboard = json.loads((DEPLOY / "grafana" / "idp-dashboard.json").read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    queries.append((DEPLOY / "prometheus" / "idp-alerts.yml").read_text())
    wanted = {name for q in queries for name in re.findall(r"\bidp_[a-z_]+\b", q)}
    have = exported(web)
    assert wanted and wanted <= have, sorted(wanted - have)
    expected = {"idp_sms_sends_total", "idp_backchannel_deliveries_total"}
    assert expected <= wanted  # the SMS gateway and the back channel are watched
