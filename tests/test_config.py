"""The typed configuration: defaults, TOML, environment overrides, and the example file."""

from pathlib import Path

import pytest

from idp.config import Config, ConfigError, example_toml, load_config

ROOT = Path(__file__).resolve().parent.parent


def test_example_file_is_generated_from_config_py():
    assert (ROOT / "config.example.toml").read_text() == example_toml()


def test_example_file_loads_to_the_defaults(tmp_path):
    assert load_config(ROOT / "config.example.toml", env={}) == Config()


def test_embedded_defaults():
    config = load_config(None, env={})
    assert config.issuer == "http://127.0.0.1:8000"
    assert config.resolved_database_url.startswith("sqlite:///")
    assert config.redis_url == ""
    assert str(config.resolved_keys_dir).endswith("instance/keys")


def test_environment_overrides_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('issuer = "https://file.example"\n[server]\nworkers = 4\n')
    config = load_config(
        path,
        env={
            "IDP_ISSUER": "https://env.example",
            "IDP_DATABASE_URL": "postgresql://u@h/db",
            "IDP_REDIS_URL": "redis://h:6379/1",
            "IDP_KEYS_DIR": "/srv/keys",
        },
    )
    assert config.issuer == "https://env.example" and config.server.workers == 4
    assert config.resolved_database_url == "postgresql+psycopg://u@h/db"
    assert config.redis_url == "redis://h:6379/1" and config.keys_dir == "/srv/keys"
    assert load_config(None, env={"IDP_CONFIG": str(path)}).issuer == "https://file.example"


@pytest.mark.parametrize(
    "text, message",
    [
        ("bogus = 1", "unknown option bogus"),
        ("[server]\nworkers = 'two'", "server.workers must be int"),
        ("[server]\nworkers = true", "server.workers must be int"),
        ("[tokens]\ncode_ttl = 600", "code_ttl"),
        ('issuer = "https://x.example/"', "issuer"),
        ('issuer = "ftp://x"', "issuer"),
        ("server = 3", "must be a table"),
        ("not toml [", "not valid TOML"),
        ('[tokens]\nid_token_alg = "HS256"', "RS256 or ES256"),
        ('[ui]\nbrand_color = "red"', "#rrggbb"),
        ('[ui]\nbrand_color = "#f6c342"', "below WCAG AA contrast"),
        ('[ui]\nlogo_file = "/nonexistent/logo.svg"', "not an .svg or .png file"),
        ('[ui]\nhelp_email = "not an address"', "help_email"),
        ('[ui]\nhelp_phone = "<script>"', "help_phone"),
        ("[otp]\nmax_failures_per_day = 2", "max_failures_per_day"),
        ("[login]\nstep_up_max_age = -1", "step_up_max_age"),
        ("[accounts]\nrequests_per_ip_hour = 0", r"\[accounts\] limits"),
    ],
)
def test_bad_configuration_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path, env={})


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml", env={})


def test_the_default_time_outs_keep_a_request_under_gunicorns_and_others_are_named():
    """Issue 17: with the defaults a stalled dependency answers 503 before gunicorn kills the
    worker; settings that could add up past it are named at `idp serve` start."""
    from idp.config import Config, ConnectorConfig, DatabaseConfig, time_budget_warnings

    connector = ConnectorConfig(label_vi="x", client_id="x", discovery_url="https://x/")
    assert time_budget_warnings(Config(connectors={"dvcqg": connector})) == []
    slow = Config(
        database=DatabaseConfig(statement_timeout=40.0),
        connectors={"dvcqg": ConnectorConfig(label_vi="x", client_id="x", timeout=10.0)},
    )
    warnings = time_budget_warnings(slow)
    assert any(w.startswith("database") for w in warnings)
    assert any(w.startswith("connectors.dvcqg") for w in warnings)


def test_the_readmes_explicit_endpoint_example_loads_and_is_complete(tmp_path):
    """Operators copy it: every endpoint a connector uses, the end-session one included (or
    the hub's logout would not continue at the portal), and the level mapping."""
    import re

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    [block] = [b for b in re.findall(r"```toml\n(.*?)```", readme, re.S) if "token_endpoint" in b]
    path = tmp_path / "idp.toml"
    path.write_text('issuer = "https://dangnhap.example.gov.vn"\n' + block, encoding="utf-8")
    dvcqg = load_config(str(path), env={}).connectors["dvcqg"]
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint",
                 "end_session_endpoint", "issuer", "jwks_uri"):  # fmt: skip
        assert getattr(dvcqg, name), name
    assert dvcqg.request_levels["LoA2"] == "LoA2" and dvcqg.trusted_identity


def test_a_client_file_or_the_console_with_an_unknown_level_is_refused(app, tmp_path):
    """An unknown min_acr would be read as "no requirement" (red team): never stored."""
    from idp.admin import client_admin
    from idp.store.client_files import ClientFileError, sync_directory

    folder = tmp_path / "clients"
    folder.mkdir()
    (folder / "land.toml").write_text(
        'client_id = "dat-dai"\nname = "Đất đai"\nredirect_uris = ["https://x.example/cb"]\n'
        'client_secret_sha256 = "' + "a" * 64 + '"\nmin_acr = "LoA9"\n'
    )
    with app.app_context():
        with pytest.raises(ClientFileError, match="one of the hub's levels"):
            sync_directory(folder)
        checked = client_admin.check(
            {"name": "X", "redirect_uris": ["https://x.example/cb"], "min_acr": "loa2"}
        )
        assert "min_acr" in checked.errors
        ok = client_admin.check(
            {"name": "X", "redirect_uris": ["https://x.example/cb"], "min_acr": "LoA1-MFA"}
        )
        assert "min_acr" not in ok.errors  # (LoA2 exists only with a national connector)
