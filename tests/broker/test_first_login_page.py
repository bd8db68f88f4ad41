"""The first national login proposes a free username made from the national name, so a new
citizen can create the account with one press."""

from __future__ import annotations

import re

from idp.accounts.validators import username_from_name
from tests.broker.test_national_login import choose, national


def test_a_free_username_is_proposed_from_the_national_name(hub, app):
    client_id, secret = hub.add_client(first_party=True)
    hub.add_user(username="tranthibinh")  # taken: the next free one is proposed
    first = national(hub, client_id, "binh")
    page = hub.web.get(first.headers["Location"]).get_data(as_text=True)
    proposed = re.search(r'name="username"[^>]*value="([^"]*)"', page).group(1)
    assert proposed == "tranthibinh2"
    created = choose(hub, first, action="create", username=proposed, email="binh@example.vn")
    claims = hub.id_token_after(created, client_id, secret)
    assert claims["amr"] == ["fed"]


def test_names_fold_to_usernames_the_validator_accepts():
    assert username_from_name("Trần Thị Bình") == "tranthibinh"
    assert username_from_name("Đỗ Văn Đức") == "dovanduc"
    assert len(username_from_name("Lê An")) >= 6 and len(username_from_name("")) >= 6
