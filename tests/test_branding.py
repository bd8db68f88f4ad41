"""The province's look from config: colour, emblem, help contacts, on every page."""

from __future__ import annotations

import pytest

from idp import create_app
from idp.config import UiConfig, contrast_with_white

from .conftest import make_config


@pytest.fixture
def branded(tmp_path, request):
    logo = tmp_path / "emblem.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    ui = UiConfig(
        province_name="Tỉnh Mẫu",
        brand_color="#0b5e3c",
        logo_file=str(logo),
        help_phone="0200 3 888 888",
        help_email="motcua@tinh.gov.vn",
        help_hours="7:30–17:00",
    )
    app = create_app(make_config(tmp_path, "sqlite", request, ui=ui))
    return app.test_client()


def test_theme_stylesheet_carries_the_configured_colour(branded):
    page = branded.get("/register").get_data(as_text=True)
    href = page.split('href="/branding/theme.css?v=')[1].split('"')[0]
    css = branded.get(f"/branding/theme.css?v={href}")
    assert css.mimetype == "text/css" and "--brand: #0b5e3c;" in css.get_data(as_text=True)
    assert "max-age=86400" in css.headers["Cache-Control"]


def test_configured_logo_is_served_by_the_hub(branded):
    logo = branded.get("/branding/logo")
    assert logo.status_code == 200 and logo.mimetype == "image/png"
    assert logo.data.startswith(b"\x89PNG")


def test_every_page_shows_the_province_and_where_to_get_help(branded):
    for path in ("/register", "/register/business", "/password/forgot", "/no-such-page"):
        page = branded.get(path).get_data(as_text=True)
        assert "Tỉnh Mẫu" in page and 'src="/branding/logo?v=' in page
        assert 'href="tel:02003888888"' in page and "0200 3 888 888</a> (7:30–17:00)" in page
        assert 'href="mailto:motcua@tinh.gov.vn"' in page
        assert "Cần hỗ trợ đăng nhập?" in page


def test_no_help_footer_when_no_contact_is_configured(tmp_path, request):
    client = create_app(make_config(tmp_path, "sqlite", request)).test_client()
    page = client.get("/register").get_data(as_text=True)
    assert "footer" not in page
    assert client.get("/branding/logo").mimetype == "image/svg+xml"  # the neutral emblem


def test_contrast_of_white_text():
    assert round(contrast_with_white("#000000"), 1) == 21.0
    assert round(contrast_with_white("#ffffff"), 1) == 1.0
    assert contrast_with_white(UiConfig().brand_color) >= 4.5
