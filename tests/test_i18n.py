"""Vietnamese catalogue is complete and compiled; pages speak the requested language."""

import io
import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "idp/translations/vi/LC_MESSAGES/messages.po"
MO = ROOT / "idp/translations/vi/LC_MESSAGES/messages.mo"


def test_every_message_in_code_and_templates_has_a_vietnamese_translation(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "_l",
            "-o",
            str(pot),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    with pot.open("rb") as fh:
        wanted = {m.id for m in read_po(fh) if m.id}
    with PO.open("rb") as fh:
        translated = {m.id: m.string for m in read_po(fh) if m.id}
    missing = sorted(m for m in wanted if not translated.get(m))
    assert missing == [], "run pybabel extract/update and translate: " + repr(missing)


def test_compiled_catalogue_matches_the_po_file():
    with PO.open("rb") as fh:
        po = {m.id: m.string for m in read_po(fh) if m.id and m.string}
    mo = {m.id: m.string for m in read_mo(io.BytesIO(MO.read_bytes())) if m.id}
    assert mo == po, "run: pybabel compile -d idp/translations"


def test_language_switch_remembers_choice(hub):
    response = hub.web.get("/?lang=en")
    assert "Provincial sign-in hub" in response.get_data(as_text=True)
    assert "idp_lang=en" in response.headers["Set-Cookie"]
    assert '<html lang="en">' in hub.web.get("/").get_data(as_text=True)
    assert '<html lang="vi">' in hub.web.get("/?lang=vi").get_data(as_text=True)
