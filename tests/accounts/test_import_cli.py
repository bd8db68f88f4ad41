"""`idp users import` and `idp users export` as operators run them: separate processes, one
line on stderr and exit status 2 for bad input, never a traceback."""

from __future__ import annotations

import json

from tests.accounts.import_files import bcrypt_hash, write_jsonl
from tests.test_cli import idp  # noqa: F401 - the fixture


def _one_line_error(result) -> str:  # noqa: ANN001
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_bad_input_is_one_line_and_status_2(idp, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.chdir(tmp_path)  # where the conflicts file is written
    assert "no such file" in _one_line_error(
        idp("users", "import", str(tmp_path / "missing.jsonl"), "--source", "a", ok=False)
    )
    good = write_jsonl(tmp_path / "a.jsonl", [{"source_id": "1", "username": "cli01"}])
    assert "--source" in _one_line_error(
        idp("users", "import", str(good), "--source", "Tên có dấu", ok=False)
    )
    header = tmp_path / "h.csv"
    header.write_bytes(b"\xff\xfe,b\n1,2\n")
    assert "header" in _one_line_error(
        idp("users", "import", str(header), "--source", "a", ok=False)
    )
    broken = tmp_path / "realm.json"
    broken.write_text('{"users": [{"id": "1", "username": "kc1"}, {"id": ')
    assert "Keycloak" in _one_line_error(
        idp("users", "import", str(broken), "--source", "kc", ok=False)
    )
    assert "exists" in _one_line_error(idp("users", "export", str(good), ok=False))
    assert not list(tmp_path.glob("import-*-conflicts.csv"))  # failed runs leave none


def test_import_json_summary_dry_run_then_export(idp, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.chdir(tmp_path)  # where the conflicts file is written
    rows = [
        {
            "source_id": "1",
            "username": "cli01",
            "national_id": "001090000091",
            "password_hash": bcrypt_hash("Mật-khẩu-cũ-2019"),
        },
        {"source_id": "2", "username": "cli02", "national_id": "bad"},
    ]
    path = write_jsonl(tmp_path / "a.jsonl", rows)
    dry = json.loads(
        idp("users", "import", str(path), "--source", "tinh-a", "--dry-run", "--json").stdout
    )
    assert (dry["dry_run"], dry["created"], dry["skipped"]) == (True, 1, 1)
    assert (tmp_path / dry["conflicts_file"]).exists()
    result = idp("users", "import", str(path), "--source", "tinh-a")
    # Not a terminal: no progress bar, a readable summary on stdout.
    assert "created" in result.stdout and "\r" not in result.stderr
    assert "001090000091" not in result.stdout + result.stderr
    again = json.loads(idp("users", "import", str(path), "--source", "tinh-a", "--json").stdout)
    assert (again["created"], again["unchanged"]) == (0, 1)
    out = tmp_path / "out.jsonl"
    assert "exported 1 account(s)" in idp("users", "export", str(out)).stdout
    (line,) = out.read_text().splitlines()
    assert json.loads(line)["username"] == "cli01" and "password_hash" not in line
    with_hash = tmp_path / "with.jsonl"
    idp("users", "export", "--with-credentials", str(with_hash))
    assert json.loads(with_hash.read_text())["password_hash"].startswith("$2b$")
