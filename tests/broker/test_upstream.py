"""`idp mock-national` as its own process, and the upstream connector against it over HTTP:
PKCE, state and nonce, ID-token verification (forged signature, wrong audience, wrong nonce),
JWKS refresh on an unknown key, error answers, timeouts, and the claim mapping from the
national portal's Vietnamese claim names."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from joserfc.jwk import KeySet, RSAKey

from idp.broker import upstream
from idp.broker.upstream import Connector, UpstreamError
from idp.config import ConfigError, load_config
from tests.broker.conftest import CALLBACK, SECRET, mock_connector


@pytest.fixture
def connector(mock_national, monkeypatch):
    monkeypatch.setenv("IDP_MOCK_NATIONAL_SECRET", SECRET)
    upstream.forget_caches()
    return Connector("dvcqg", mock_connector(mock_national))


def national_sign_in(connector, person="an", account_type="vneid", fault="", cancel=False):
    """The browser's trip upstream: the pick page, a choice, the redirect back."""
    url, pending = connector.authorization_request(CALLBACK)
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["code_challenge_method"] == "S256" and query["acr_values"] == "LoA1"
    page = requests.get(url, timeout=5)
    assert page.status_code == 200, page.text
    request_id = re.search(r'name="request_id" value="([^"]+)"', page.text).group(1)
    form = {"request_id": request_id, "account_type": account_type, "fault": fault}
    form.update({"cancel": "1"} if cancel else {"person": person})
    back = requests.post(
        url.split("/oauth2/")[0] + "/oauth2/authorize/decide",
        data=form,
        allow_redirects=False,
        timeout=5,
    )
    assert back.status_code == 302 and back.headers["Location"].startswith(CALLBACK)
    return dict(parse_qsl(urlsplit(back.headers["Location"]).query)), pending


def test_citizen_with_vneid_level_2(connector):
    args, pending = national_sign_in(connector, "an", "vneid")
    identity = connector.finish(args, pending)
    assert identity.subject == "1:001090000001" and identity.account_type == "citizen"
    assert identity.level == "LoA2"
    assert identity.claims == {
        "name": "Nguyễn Văn An",
        "birthdate": "1990-05-17",
        "gender": "male",
        "phone": "0912345678",
        "email": "an@example.vn",
        "address": "12 Tràng Tiền, Phường Hoàn Kiếm, Thành phố Hà Nội",
        "national_id": "001090000001",
    }
    assert identity.raw["HoVaTen"] == "Nguyễn Văn An" and identity.upstream_sub


def test_portal_issued_account_is_level_1(connector):
    identity = connector.finish(*national_sign_in(connector, "an", "dvcqg"))
    assert identity.level == "LoA1" and identity.subject == "1:001090000001"


def test_business_and_organisation_keys(connector):
    business = connector.finish(*national_sign_in(connector, "motcua"))
    assert business.subject == "2:0100109106" and business.account_type == "organization"
    assert business.claims["tax_code"] == "0100109106"
    assert business.claims["name"] == "Công ty TNHH Một Cửa"
    school = connector.finish(*national_sign_in(connector, "chuvanan"))
    assert school.subject == "3:" + school.raw["TechID"] and school.account_type == "organization"


@pytest.mark.parametrize("fault", ["bad_signature", "wrong_aud", "wrong_nonce"])
def test_forged_id_tokens_are_refused(connector, fault):
    with pytest.raises(UpstreamError) as refused:
        connector.finish(*national_sign_in(connector, fault=fault))
    assert refused.value.reason == "bad_token"


@pytest.mark.parametrize(
    "fault, reason", [("error", "error_answer"), ("token_error", "error_answer")]
)
def test_error_answers(connector, fault, reason):
    with pytest.raises(UpstreamError) as refused:
        connector.finish(*national_sign_in(connector, fault=fault))
    assert refused.value.reason == reason


def test_cancel_and_a_foreign_state(connector):
    with pytest.raises(UpstreamError) as cancelled:
        connector.finish(*national_sign_in(connector, cancel=True))
    assert cancelled.value.reason == "cancelled"
    args, pending = national_sign_in(connector)
    with pytest.raises(UpstreamError) as foreign:
        connector.finish({**args, "state": "someone-elses"}, pending)
    assert foreign.value.reason == "bad_state"


def test_a_slow_token_endpoint_times_out(connector):
    slow = Connector("dvcqg", replace(connector.config, timeout=0.5))
    with pytest.raises(UpstreamError) as refused:
        slow.finish(*national_sign_in(slow, fault="slow_token"))
    assert refused.value.reason == "unreachable"


def test_codes_are_single_use_and_bound_to_the_verifier(connector):
    args, pending = national_sign_in(connector)
    token_endpoint = connector.metadata()["token_endpoint"]
    wrong_verifier = requests.post(
        token_endpoint,
        data={
            "grant_type": "authorization_code",
            "code": args["code"],
            "redirect_uri": CALLBACK,
            "code_verifier": "x" * 50,
        },
        auth=("hub-tinh", SECRET),
        timeout=5,
    )
    assert wrong_verifier.json()["error"] == "invalid_grant"
    with pytest.raises(UpstreamError):  # the failed try used the code up
        connector.finish(args, pending)


def test_an_unknown_kid_refreshes_the_cached_jwks(connector):
    jwks_uri = connector.metadata()["jwks_uri"]
    stale = KeySet([RSAKey.generate_key(2048, parameters={"kid": "retired"})])
    upstream._cache[f"jwks:{jwks_uri}"] = (time.monotonic() - 60, stale)
    identity = connector.finish(*national_sign_in(connector))
    assert identity.subject == "1:001090000001"


def test_connectors_load_from_toml_and_keep_the_default_claim_names(tmp_path):
    path = tmp_path / "idp.toml"
    path.write_text(
        """
[connectors.vneid]
label_vi = "Tài khoản định danh điện tử cấp bởi Bộ Công an (VNeID)"
discovery_url = "https://sso.dancuquocgia.gov.vn/auth/.well-known/openid-configuration"
client_id = "tinh"
client_secret_env = "IDP_VNEID_CLIENT_SECRET"
[connectors.vneid.claims]
phone = ["SoDienThoaiDiDong"]
""",
        encoding="utf-8",
    )
    connector = load_config(path, env={}).connectors["vneid"]
    assert connector.claims["phone"] == ["SoDienThoaiDiDong"]
    assert connector.claims["national_id"] == ["SoDinhDanh", "SoCMND"]
    bad = path.read_text().replace("https://sso", "http://sso")
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(ConfigError, match="https"):
        load_config(path, env={})
