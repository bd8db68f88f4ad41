"""Every `idp` command answers bad input and conflicts with one line on stderr and exit status
2, never a traceback (run as operators run it: a separate process)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.test_cli import idp  # noqa: F401 - the fixture: a configured hub, `idp init` done

PASSWORD = "Mật-khẩu-123"  # noqa: S105 - a test password


def one_line_refusal(result: subprocess.CompletedProcess, expected: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr


def test_a_second_account_with_the_same_identity_number_is_refused_in_one_line(idp):  # noqa: F811
    idp("users", "add", "--username", "nguyenvana", "--password", PASSWORD,
        "--national-id", "001190000001")  # fmt: skip
    again = idp("users", "add", "--username", "nguyenvanb", "--password", PASSWORD,
                "--national-id", "001190000001", ok=False)  # fmt: skip
    one_line_refusal(again, "national_id: already the number of another active account")
    assert "001190000001" not in again.stderr  # no personal data from the database's answer
    taken = idp("users", "add", "--username", "NguyenVanA", "--password", PASSWORD, ok=False)
    one_line_refusal(taken, "username: already taken")


BAD = [
    (["nonsense"], "No such command"),
    (["init", "extra"], "unexpected extra argument"),
    (["serve", "--port", "abc"], "is not a valid integer"),
    (["serve", "--port", "-1"], "is not in the range"),
    (["mock-national", "--port", "99999"], "is not in the range"),
    (
        ["clients", "add", "--name", "x" * 201, "--redirect-uri", "https://x.example/cb"],
        "1 to 200 printable characters",
    ),  # fmt: skip
    (["mock-national", "--portal", "elsewhere"], "Invalid value for '--portal'"),
    (["dev"], "writes its own config"),
    (["backup", "{tmp}/no-such-folder/backup.tar"], "backup"),
    (["restore", "{tmp}/missing.tar"], "does not exist"),
    (["restore", "{tmp}/garbage.tar"], "garbage.tar"),
    (["config-example", "extra"], "unexpected extra argument"),
    (["clients", "add", "--name", "X"], "Missing option '--redirect-uri'"),
    (["clients", "add", "--name", "X", "--redirect-uri", "ftp://x.example/cb"], "redirect"),
    (["clients", "add-service", "--name", "X", "--scope", "no-such-scope"], "scope"),
    # An unknown level would be read as "no requirement" (red team): refused.
    (
        [
            "clients",
            "add",
            "--name",
            "X",
            "--redirect-uri",
            "https://x.example/cb",
            "--min-acr",
            "loa2",
        ],
        "not one of the hub's levels",
    ),  # fmt: skip
    (["clients", "list", "--bogus"], "No such option"),
    (["clients", "show", "no-such-client"], "no-such-client"),
    (["clients", "disable", "no-such-client"], "no-such-client"),
    (["clients", "enable", "no-such-client"], "no-such-client"),
    (["clients", "rotate-secret", "no-such-client"], "no-such-client"),
    (["clients", "sync", "--dir", "{tmp}/no-such-folder"], "no-such-folder"),
    (["users", "add", "--username", "abc", "--password", PASSWORD], "username"),
    (
        ["users", "add", "--username", "nguyenvanc", "--password", PASSWORD, "--national-id", "12"],
        "national_id",
    ),  # fmt: skip
    (
        [
            "users",
            "add",
            "--username",
            "nguyenvanc",
            "--password",
            PASSWORD,
            "--email",
            "not-an-email",
        ],
        "email",
    ),  # fmt: skip
    (
        ["users", "add", "--username", "nguyenvanc", "--password", PASSWORD, "--phone", "12ab"],
        "phone",
    ),  # fmt: skip
    (["users", "grant-role", "nobody1", "admin"], "nobody1"),
    (["users", "grant-role", "nobody1", "god"], "'god' is not one of 'staff', 'admin'"),
    (["users", "revoke-role", "nobody1", "staff"], "nobody1"),
    (["users", "unlock-second-factor", "nobody1"], "nobody1"),
    (["users", "vouch-second-factor", "nobody1"], "nobody1"),
    (["users", "logout", "nobody1"], "nobody1"),
    (["users", "logout", "nobody1", "--wait", "soon"], "is not a valid float"),
    (["users", "unlinked", "extra"], "unexpected extra argument"),
    (["keys", "rotate", "--alg", "HS256"], "Invalid value for '--alg'"),
    (["keys", "list", "--bogus"], "No such option"),
]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_each_command_refuses_bad_input_in_one_line(idp, tmp_path):  # noqa: F811
    (tmp_path / "garbage.tar").write_bytes(b"not an archive at all")
    failures = []
    for args, expected in BAD:
        args = [a.replace("{tmp}", str(tmp_path)) for a in args]
        result = idp(*args, ok=False)
        try:
            one_line_refusal(result, expected)
        except AssertionError as exc:
            failures.append(f"{' '.join(args)}: {exc}")
    assert failures == [], "\n".join(failures)


def test_a_config_that_is_not_toml_is_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("issuer = [unclosed\n")
    result = subprocess.run(
        ["idp", "--config", str(bad), "users", "unlinked"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("IDP_")},
    )
    one_line_refusal(result, "not valid TOML")
