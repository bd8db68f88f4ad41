"""A mock of the national public-service portal (Cổng DVC quốc gia) as an upstream OpenID
Connect provider, for development and tests: `idp mock-national [--port 8100]`.

It is a separate process speaking HTTP, small but honest: its own RS256 key and JWKS,
discovery, the authorization code flow with PKCE (S256 required) and single-use codes, client
authentication, userinfo with the real Vietnamese claim names, and end-session. Its sign-in page
lists seeded demo people and the three kinds of national account. For tests it can misbehave on
purpose (the "developer options" on that page): an error answer, a slow or refused token
endpoint, or an ID token with a bad signature, a wrong audience or a wrong nonce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
import uuid
from dataclasses import dataclass

import requests
from authlib.common.urls import add_params_to_uri
from flask import (
    Flask,
    Response,
    abort,
    jsonify,
    make_response,
    redirect,
    render_template_string,
    request,
)
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

ACCOUNT_TYPES = {
    "dvcqg": "Tài khoản cấp bởi Cổng DVC quốc gia",
    "vneid": "Tài khoản định danh điện tử cấp bởi Bộ Công an (VNeID)",
    "vnpost": "Tài khoản cấp bởi Bưu điện Việt Nam",
}
FAULTS = (
    "",
    "error",
    "bad_signature",
    "wrong_aud",
    "wrong_nonce",
    "token_error",
    "slow_token",
    "userinfo_no_sub",  # userinfo without `sub`, naming another person
    "userinfo_other_sub",  # userinfo for another subject than the ID token
)


@dataclass(frozen=True)
class DemoPerson:
    key: str
    kind: str  # "1" citizen, "2" business, "3" organisation (LoaiTaiKhoan)
    name: str
    birthdate: str = ""  # yyyymmdd
    gender: str = ""
    national_id: str = ""
    phone: str = ""
    email: str = ""
    address: str = ""
    tax_code: str = ""
    level: str = "2"  # identity assurance level: 1 or 2
    portal: str = "dvcqg"  # whose person this is: each portal has its own subjects

    @property
    def tech_id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.portal}:{self.key}"))


DEMO_PEOPLE = (
    DemoPerson(
        "an",
        "1",
        "Nguyễn Văn An",
        "19900517",
        "Nam",
        "001090000001",
        "0912345678",
        "an@example.vn",
        "12 Tràng Tiền, Phường Hoàn Kiếm, Thành phố Hà Nội",
        level="2",
    ),
    DemoPerson(
        "binh",
        "1",
        "Trần Thị Bình",
        "19950308",
        "Nữ",
        "079195000123",
        "0987654321",
        "binh@example.vn",
        "45 Lê Lợi, Phường Sài Gòn, Thành phố Hồ Chí Minh",
        level="1",
    ),
    DemoPerson(
        "cuong",
        "1",
        "Lê Văn Cường",
        "19880211",
        "Nam",
        "038088001234",
        "0903123456",
        "",
        "Thôn Đông, Xã Hoằng Hóa, Tỉnh Thanh Hóa",
        level="2",
    ),
    DemoPerson(
        "motcua",
        "2",
        "Công ty TNHH Một Cửa",
        phone="0243123456",
        email="lienhe@motcua.vn",
        address="1 Tràng Tiền, Phường Hoàn Kiếm, Thành phố Hà Nội",
        tax_code="0100109106",
    ),
    DemoPerson(
        "chuvanan",
        "3",
        "Trường THPT Chu Văn An",
        phone="0243823456",
        email="vanthu@chuvanan.edu.vn",
        address="10 Thụy Khuê, Phường Tây Hồ, Thành phố Hà Nội",
    ),
)

# VNeID's own people: Nguyễn Văn An and Lê Văn Cường are the same citizens as at the national
# portal (the same CCCD, another subject), Phạm Thị Dung is known to VNeID alone.
VNEID_PEOPLE = (
    DemoPerson(
        "an",
        "1",
        "Nguyễn Văn An",
        "19900517",
        "1",
        "001090000001",
        "0912345678",
        "an@example.vn",
        "12 Tràng Tiền, Phường Hoàn Kiếm, Thành phố Hà Nội",
        level="2",
        portal="vneid",
    ),
    DemoPerson(
        "cuong",
        "1",
        "Lê Văn Cường",
        "19880211",
        "1",
        "038088001234",
        "0903123456",
        "",
        "Thôn Đông, Xã Hoằng Hóa, Tỉnh Thanh Hóa",
        level="2",
        portal="vneid",
    ),
    DemoPerson(
        "dung",
        "1",
        "Phạm Thị Dung",
        "20010920",
        "2",
        "031301000456",
        "0978111222",
        "dung@example.vn",
        "5 Lạch Tray, Phường Gia Viên, Thành phố Hải Phòng",
        level="2",
        portal="vneid",
    ),
)


@dataclass(frozen=True)
class Portal:
    """Which portal a mock process plays: its title, its kinds of account, its people."""

    title: str
    account_types: dict[str, str]
    people: tuple[DemoPerson, ...]


PORTALS = {
    "dvcqg": Portal("Cổng Dịch vụ công quốc gia", ACCOUNT_TYPES, DEMO_PEOPLE),
    "vneid": Portal(
        "Định danh điện tử VNeID (Bộ Công an)",
        {"vneid": "Tài khoản định danh điện tử cấp bởi Bộ Công an (VNeID)"},
        VNEID_PEOPLE,
    ),
}

# The mock portal's look: a plausible national portal page (its blue band, a white card, big
# buttons a thumb can hit), from one stylesheet, so it reads well on a phone. Not the real
# portal's design or marks: a stand-in for development and tests.
PORTAL_CSS = """
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
       color: #1a1a1a; background: #eef1f6; }
.top { background: #0b3d91; color: #fff; padding: .75rem 1rem; border-bottom: 4px solid #c8102e; }
.top .name { display: block; font-weight: 700; font-size: 1.1rem; text-transform: uppercase; }
.top .sub { font-size: .95rem; }
.mock-note { background: #fff4ce; color: #5c4400; margin: 0; padding: .5rem 1rem;
             font-size: .95rem; }
main { max-width: 34rem; margin: 1rem auto; padding: 0 .75rem; }
.card { background: #fff; border-radius: 8px; padding: 1.25rem 1rem;
        box-shadow: 0 1px 3px rgba(0,0,0,.15); }
h1 { font-size: 1.3rem; line-height: 1.3; margin: 0 0 .5rem; color: #0b3d91; }
h2 { font-size: 1.1rem; }
p { margin: .5rem 0; }
fieldset { border: 0; padding: 0; margin: 1rem 0; }
legend { font-weight: 700; margin-bottom: .5rem; }
.choice { display: flex; align-items: center; gap: .6rem; min-height: 44px; padding: .5rem .75rem;
          margin: .35rem 0; border: 1px solid #9aa5b8; border-radius: 6px; background: #fff; }
.choice input { width: 1.25rem; height: 1.25rem; margin: 0; }
.people { display: grid; gap: .5rem; }
button { font: inherit; min-height: 44px; cursor: pointer; border-radius: 6px; }
button.person { display: block; width: 100%; text-align: left; padding: .65rem .9rem; color: #fff;
                background: #0b3d91; border: 0; }
button.person:hover { background: #082c69; }
button.person .id { display: block; font-size: .9rem; opacity: .95; }
button.cancel, button.plain { width: 100%; margin-top: 1rem; padding: .6rem 1rem; background: #fff;
                             color: #0b3d91; border: 1px solid #0b3d91; }
details { margin-top: 1rem; }
summary { cursor: pointer; min-height: 44px; padding: .5rem 0; }
select { font: inherit; min-height: 44px; width: 100%; margin-top: .25rem; }
label.block { display: block; }
code { overflow-wrap: anywhere; }
ul { padding-left: 1.2rem; }
a { color: #0a4bb3; }
:focus-visible { outline: 3px solid #f0b400; outline-offset: 2px; }
"""

PAGE_HEAD = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/mock/portal.css">"""

PAGE_TOP = """<header class="top"><span class="name">{{ title }}</span>
<span class="sub">Tài khoản định danh điện tử</span></header>
<p class="mock-note">Môi trường mô phỏng cho phát triển và kiểm thử — không phải cổng thật.</p>"""

PICK_PAGE = (
    PAGE_HEAD
    + """
<title>Đăng nhập — {{ title }} (mô phỏng)</title></head>
<body>"""
    + PAGE_TOP
    + """
<main><div class="card">
<h1>Đăng nhập</h1>
<p>Hệ thống đề nghị đăng nhập: <code>{{ client_id }}</code></p>
{% if acr_values %}<p id="requested-level">Dịch vụ yêu cầu mức xác thực: {{ acr_values }}</p>
{% endif %}
<form method="post" action="/oauth2/authorize/decide">
  <input type="hidden" name="request_id" value="{{ request_id }}">
  <label class="choice"><input type="checkbox" name="remember" value="1" id="remember"> Duy trì
    đăng nhập trên trình duyệt này</label>
  <fieldset><legend>Loại tài khoản</legend>
  {% for value, label in account_types.items() %}
    <label class="choice"><input type="radio" name="account_type" value="{{ value }}"
      {% if loop.first %}checked{% endif %}> {{ label }}</label>
  {% endfor %}
  </fieldset>
  <fieldset><legend>Người dùng mẫu</legend>
  <div class="people">
  {% for person in people %}
    <button type="submit" class="person" name="person" value="{{ person.key }}">{{ person.name }}
      {% if person.national_id %}<span class="id">CCCD {{ person.national_id }},
        mức {{ person.level }}</span>
      {% elif person.tax_code %}<span class="id">MST {{ person.tax_code }}</span>
      {% endif %}</button>
  {% endfor %}
  </div>
  </fieldset>
  <details><summary>Tùy chọn cho nhà phát triển</summary>
    <label class="block">Lỗi mô phỏng <select name="fault">{% for f in faults %}
      <option value="{{ f }}">{{ f or "không" }}</option>{% endfor %}</select></label>
  </details>
  <button type="submit" class="cancel" name="cancel" value="1">Hủy</button>
</form>
</div></main>
</body></html>"""
)


SESSIONS_PAGE = (
    PAGE_HEAD
    + """
<title>Phiên đăng nhập — {{ title }} (mô phỏng)</title></head><body>
"""
    + PAGE_TOP
    + """
<main><div class="card">
<h1>Phiên đăng nhập</h1>
{% if done %}<p role="status">Đã đăng xuất {{ done }}.</p>{% endif %}
{% for person in people %}
<form method="post" action="/mock/sessions/logout">
  <input type="hidden" name="person" value="{{ person.key }}">
  <button type="submit" class="plain" id="logout-{{ person.key }}">Đăng xuất
    {{ person.name }}</button>
</form>
{% else %}<p>Không có phiên đăng nhập nào.</p>{% endfor %}
</div></main>
</body></html>"""
)


INDEX_PAGE = (
    PAGE_HEAD
    + """
<title>{{ title }} (mô phỏng)</title></head><body>
"""
    + PAGE_TOP
    + """
<main><div class="card">
<h1>{{ title }} (mô phỏng)</h1>
<p>Nhà cung cấp OpenID Connect giả lập cho phát triển và kiểm thử, không phải cổng thật.</p>
<ul>
  <li>Issuer: <code>{{ issuer }}</code>, client_id <code>{{ client_id }}</code></li>
  <li><a href="/.well-known/openid-configuration">Discovery</a> ·
    <a href="/oauth2/jwks">JWKS</a></li>
  <li><a href="/mock/sessions">Phiên đăng nhập</a>
    (đăng xuất tại cổng, báo cho hub qua kênh sau)</li>
</ul>
<h2>Người dùng mẫu</h2>
<ul>{% for p in people %}<li>{{ p.name }}
  {%- if p.national_id %} — CCCD {{ p.national_id }}{% endif %}
  {%- if p.tax_code %} — MST {{ p.tax_code }}{% endif %}</li>{% endfor %}</ul>
</div></main>
</body></html>"""
)


def _must_authenticate(args, auth_time: int) -> bool:  # noqa: ANN001
    """OIDC Core §3.1.2.1: prompt=login, or a session older than max_age, means sign in now."""
    if "login" in args.get("prompt", "").split():
        return True
    max_age = args.get("max_age", "")
    return max_age.isdigit() and time.time() - auth_time >= int(max_age)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class MockNational:
    """State of one mock portal process: keys, registered client, pending requests, codes."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        redirect_uris: list[str],
        post_logout_uris: list[str] | None = None,
        backchannel_logout_uri: str = "",
        portal: str = "dvcqg",
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.portal = PORTALS[portal]
        # Cookies do not tell ports apart: each portal on loopback needs a name of its own.
        self.cookie = f"mock_{portal}_{uuid.uuid4().hex[:8]}"
        # Browsers that chose "stay signed in": cookie value -> person, kind, level, auth_time.
        self.remembered: dict[str, dict] = {}
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = redirect_uris
        self.post_logout_uris = post_logout_uris or []
        self.backchannel_logout_uri = backchannel_logout_uri
        self.sessions: dict[str, list[str]] = {}  # sub -> sids of its ID tokens
        self.key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8)})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": self.key.kid})
        self.lock = threading.Lock()
        self.requests: dict[str, dict] = {}
        self.codes: dict[str, dict] = {}
        self.tokens: dict[str, dict] = {}
        self.slow_seconds = 3.0

    def new_code(
        self,
        request_args: dict,
        person: str,
        account_type: str,
        level: str,
        auth_time: int,
        fault: str = "",
    ) -> str:
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = {
                "request": request_args,
                "person": person,
                "account_type": account_type,
                "level": level,
                "auth_time": auth_time,
                "fault": fault,
                "expires": time.time() + 60,
            }
        return code

    def sign(self, claims: dict, fault: str) -> str:
        key = self.other_key if fault == "bad_signature" else self.key
        return jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, key)

    def logout_token(
        self, sub: str, sid: str | None, age: int = 0, lifetime: int | None = None
    ) -> str:
        """Back-Channel Logout 1.0 §2.4 (issued `age` seconds ago; with `exp` when given a
        lifetime)."""
        issued = int(time.time()) - age
        claims = {
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": issued,
            "jti": secrets.token_urlsafe(16),
            "sub": sub,
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        }
        if sid:
            claims["sid"] = sid
        if lifetime is not None:
            claims["exp"] = issued + lifetime
        header = {"alg": "RS256", "kid": self.key.kid, "typ": "logout+jwt"}
        return jwt.encode(header, claims, self.key)

    def deliver_logout(self, sub: str, sid: str | None) -> None:
        """Tell the hub, in the background, as a real provider's logout would."""
        if not self.backchannel_logout_uri:
            return
        token = self.logout_token(sub, sid)

        def post() -> None:
            try:
                requests.post(self.backchannel_logout_uri, data={"logout_token": token}, timeout=5)
            except requests.RequestException:
                pass  # a mock: the hub being down is not its problem

        threading.Thread(target=post, daemon=True).start()

    def claims_of(self, person: DemoPerson, account_type: str, level: str | None = None) -> dict:
        claims = {
            "sub": person.tech_id,
            "TechID": person.tech_id,
            "HoVaTen": person.name,
            "LoaiTaiKhoan": person.kind,
            "SoDienThoai": person.phone,
            "ThuDienTu": person.email,
            "DiaChi": person.address,
        }
        if person.kind == "1":
            claims.update(
                SoDinhDanh=person.national_id,
                NgayThangNamSinh=person.birthdate,
                GioiTinh=person.gender,
                ThuongTru=person.address,
                NoiOHienNay=person.address,
            )
        else:
            claims.update(
                TenDoanhNghiep=person.name,
                MaSoThue=person.tax_code,
                MaSoDoanhNghiep=person.tax_code,
            )
        # A VNeID sign-in carries the person's identity level; the portal's own accounts, 1;
        # a remembered (older) session, the level it was made at.
        level = level or (person.level if account_type == "vneid" else "1")
        claims["loAs"] = [f"LoA{level}"]
        if account_type == "vneid":
            claims["IAL"] = level
        claims["LoaiXacThuc"] = account_type
        return {k: v for k, v in claims.items() if v not in ("", None)}


def create_mock_app(state: MockNational) -> Flask:
    app = Flask(__name__)
    app.extensions["mock_national"] = state
    people = {p.key: p for p in state.portal.people}

    @app.after_request
    def headers(response):  # noqa: ANN001, ANN202
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.get("/mock/portal.css")
    def portal_css():  # noqa: ANN202
        return Response(PORTAL_CSS, mimetype="text/css")

    @app.get("/.well-known/openid-configuration")
    def discovery():  # noqa: ANN202
        base = state.issuer
        return jsonify(
            issuer=base,
            authorization_endpoint=f"{base}/oauth2/authorize",
            token_endpoint=f"{base}/oauth2/token",
            userinfo_endpoint=f"{base}/oauth2/userinfo",
            jwks_uri=f"{base}/oauth2/jwks",
            end_session_endpoint=f"{base}/oauth2/logout",
            response_types_supported=["code"],
            subject_types_supported=["public"],
            id_token_signing_alg_values_supported=["RS256"],
            code_challenge_methods_supported=["S256"],
            token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
            acr_values_supported=["LoA1", "LoA2"],
            scopes_supported=["openid"],
        )

    @app.get("/oauth2/jwks")
    def jwks():  # noqa: ANN202
        return jsonify(keys=[state.key.as_dict(private=False)])

    @app.get("/oauth2/authorize")
    def authorize():  # noqa: ANN202
        args = request.args
        if args.get("client_id") != state.client_id:
            abort(400, "unknown client_id")
        redirect_uri = args.get("redirect_uri", "")
        if redirect_uri not in state.redirect_uris:
            abort(400, "redirect_uri is not registered")

        def error(code: str, description: str):  # noqa: ANN202
            query = {"error": code, "error_description": description}
            if args.get("state"):
                query["state"] = args["state"]
            return redirect(add_params_to_uri(redirect_uri, list(query.items())))

        if args.get("response_type") != "code":
            return error("unsupported_response_type", "code only")
        if "openid" not in args.get("scope", "").split():
            return error("invalid_scope", "openid is required")
        if not args.get("code_challenge") or args.get("code_challenge_method") != "S256":
            return error("invalid_request", "PKCE with S256 is required")
        with state.lock:
            remembered = state.remembered.get(request.cookies.get(state.cookie, ""))
        if remembered and not _must_authenticate(args, remembered["auth_time"]):
            # Like many real portals: the session it has answers, whatever acr_values asked.
            query = {"code": state.new_code(dict(args.items()), **remembered)}
            if args.get("state"):
                query["state"] = args["state"]
            return redirect(add_params_to_uri(redirect_uri, list(query.items())))
        request_id = secrets.token_urlsafe(16)
        with state.lock:
            state.requests[request_id] = dict(args.items())
        return render_template_string(
            PICK_PAGE,
            title=state.portal.title,
            client_id=state.client_id,
            request_id=request_id,
            acr_values=args.get("acr_values", "")[:64],
            people=state.portal.people,
            account_types=state.portal.account_types,
            faults=FAULTS,
        )

    @app.post("/oauth2/authorize/decide")
    def decide():  # noqa: ANN202
        with state.lock:
            pending = state.requests.pop(request.form.get("request_id", ""), None)
        if pending is None:
            abort(400, "unknown or finished request")
        redirect_uri = pending["redirect_uri"]
        query: dict[str, str] = {}
        fault = request.form.get("fault", "")
        person = people.get(request.form.get("person", ""))
        if request.form.get("cancel") or person is None:
            query = {"error": "access_denied", "error_description": "The user cancelled."}
        elif fault == "error":
            query = {"error": "server_error", "error_description": "Simulated failure."}
        else:
            kinds = state.portal.account_types
            account_type = request.form.get("account_type", "")
            account_type = account_type if account_type in kinds else next(iter(kinds))
            level = person.level if account_type == "vneid" else "1"
            signed_in = {
                "person": person.key,
                "account_type": account_type,
                "level": level,
                "auth_time": int(time.time()),
            }
            code = state.new_code(pending, **signed_in, fault=fault if fault in FAULTS else "")
            query = {"code": code}
        if pending.get("state"):
            query["state"] = pending["state"]
        response = redirect(add_params_to_uri(redirect_uri, list(query.items())))
        if "code" in query and request.form.get("remember"):
            cookie = secrets.token_urlsafe(16)
            with state.lock:
                state.remembered[cookie] = signed_in
            response.set_cookie(state.cookie, cookie, httponly=True, samesite="Lax")
        return response

    def token_error(code: str, status: int = 400):  # noqa: ANN202
        response = jsonify(error=code)
        response.status_code = status
        return response

    def client_authenticated() -> bool:
        auth = request.authorization
        if auth is not None and auth.type == "basic":
            given_id, given_secret = auth.username, auth.password
        else:
            given_id, given_secret = (
                request.form.get("client_id"),
                request.form.get("client_secret"),
            )
        return given_id == state.client_id and hmac.compare_digest(
            (given_secret or "").encode(), state.client_secret.encode()
        )

    @app.post("/oauth2/token")
    def token():  # noqa: ANN202
        if not client_authenticated():
            return token_error("invalid_client", 401)
        if request.form.get("grant_type") != "authorization_code":
            return token_error("unsupported_grant_type")
        with state.lock:
            record = state.codes.pop(request.form.get("code", ""), None)
        if record is None or record["expires"] < time.time():
            return token_error("invalid_grant")
        pending = record["request"]
        if request.form.get("redirect_uri") != pending["redirect_uri"]:
            return token_error("invalid_grant")
        verifier = request.form.get("code_verifier", "")
        if not verifier or not hmac.compare_digest(_s256(verifier), pending["code_challenge"]):
            return token_error("invalid_grant")
        fault = record["fault"]
        if fault == "token_error":
            return token_error("invalid_grant")
        if fault == "slow_token":
            time.sleep(state.slow_seconds)
        person = people[record["person"]]
        claims = state.claims_of(person, record["account_type"], record["level"])
        now = int(time.time())
        level = claims["loAs"][0]
        id_claims = {
            **claims,
            "iss": state.issuer,
            "aud": "someone-else" if fault == "wrong_aud" else state.client_id,
            "azp": state.client_id,
            "iat": now,
            "exp": now + 600,
            "auth_time": record["auth_time"],
            "acr": level,
            "sid": secrets.token_urlsafe(8),
        }
        with state.lock:
            state.sessions.setdefault(claims["sub"], []).append(id_claims["sid"])
        if pending.get("nonce"):
            id_claims["nonce"] = "not-the-nonce" if fault == "wrong_nonce" else pending["nonce"]
        access_token = secrets.token_urlsafe(32)
        info = dict(claims)
        if fault in ("userinfo_no_sub", "userinfo_other_sub"):
            other = next(p for p in state.portal.people if p.kind == "1" and p.key != person.key)
            info.update(SoDinhDanh=other.national_id, HoVaTen=other.name)
            if fault == "userinfo_no_sub":
                info.pop("sub")
            else:
                info["sub"] = other.tech_id
        with state.lock:
            state.tokens[access_token] = {"claims": info, "expires": now + 600}
        return jsonify(
            access_token=access_token,
            token_type="Bearer",  # noqa: S106 - a token type, not a secret
            expires_in=600,
            id_token=state.sign(id_claims, fault),
            scope=pending.get("scope", "openid"),
        )

    @app.route("/oauth2/userinfo", methods=["GET", "POST"])
    def userinfo():  # noqa: ANN202
        header = request.headers.get("Authorization", "")
        token_value = header[7:] if header.lower().startswith("bearer ") else ""
        with state.lock:
            record = state.tokens.get(token_value)
        if record is None or record["expires"] < time.time():
            response = jsonify(error="invalid_token")
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return response
        return jsonify(record["claims"])

    @app.get("/oauth2/logout")
    def logout():  # noqa: ANN202
        """RP-initiated logout: ends the person's upstream session, tells the hub through the
        back channel, and returns only to a registered address."""
        target = request.args.get("post_logout_redirect_uri", "")
        if target and target not in state.post_logout_uris:
            abort(400, "post_logout_redirect_uri is not registered")
        hint = request.args.get("id_token_hint", "")
        if hint:
            try:
                claims = jwt.decode(hint, state.key).claims
            except (JoseError, ValueError, TypeError):
                abort(400, "id_token_hint is not valid")
            state.deliver_logout(claims.get("sub", ""), claims.get("sid"))
            with state.lock:
                remaining = state.sessions.get(claims.get("sub", ""), [])
                if claims.get("sid") in remaining:
                    remaining.remove(claims["sid"])
        with state.lock:
            state.remembered.pop(request.cookies.get(state.cookie, ""), None)
        if target:
            query = [("state", request.args["state"])] if request.args.get("state") else []
            response = redirect(add_params_to_uri(target, query))
        else:
            response = make_response(
                f"<!doctype html><p>Đã đăng xuất khỏi {state.portal.title} (mô phỏng).</p>"
            )
        response.delete_cookie(state.cookie)
        return response

    @app.get("/")
    def index():  # noqa: ANN202
        """What this is, where its endpoints are, and its demo people."""
        return render_template_string(
            INDEX_PAGE,
            title=state.portal.title,
            issuer=state.issuer,
            client_id=state.client_id,
            people=state.portal.people,
        )

    @app.get("/mock/sessions")
    def sessions_page():  # noqa: ANN202
        """The portal's own "log out" for a person: who has sessions here, with a button each."""
        with state.lock:
            active = [p for p in state.portal.people if state.sessions.get(p.tech_id)]
        return render_template_string(
            SESSIONS_PAGE, title=state.portal.title, people=active, done=request.args.get("done")
        )

    @app.post("/mock/sessions/logout")
    def sessions_logout():  # noqa: ANN202
        """A person logs out at the portal: each of their sessions is announced to the hub
        over the back channel, as the real portal does."""
        person = people.get(request.form.get("person", ""))
        if person is None:
            abort(400, "unknown person")
        with state.lock:
            sids = state.sessions.pop(person.tech_id, [])
        for sid in sids:
            state.deliver_logout(person.tech_id, sid)
        return redirect("/mock/sessions?done=" + person.key)

    @app.post("/mock/logout-token")
    def mock_logout_token():  # noqa: ANN202
        """For tests and demos: a logout token for a demo person's sessions (the newest sid,
        or none with sid=none), as the portal would send when they log out there; `age` and
        `lifetime` (seconds) make an old token, or one with `exp`."""
        person = people.get(request.form.get("person", ""))
        if person is None:
            abort(400, "unknown person")
        with state.lock:
            sids = list(state.sessions.get(person.tech_id, []))
        sid = None if request.form.get("sid") == "none" or not sids else sids[-1]
        age = request.form.get("age", type=int) or 0
        lifetime = request.form.get("lifetime", type=int)
        return jsonify(logout_token=state.logout_token(person.tech_id, sid, age, lifetime), sid=sid)

    return app


def run(host: str, port: int, state: MockNational) -> None:
    """Serve the mock until interrupted (threaded: the hub calls back while a page waits)."""
    from werkzeug.serving import run_simple

    print(f"mock national portal: {state.issuer}  (client_id {state.client_id})", flush=True)
    run_simple(host, port, create_mock_app(state), threaded=True, use_reloader=False)
