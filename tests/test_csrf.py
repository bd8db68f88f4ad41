"""Every form the hub serves refuses a post without its CSRF token: the whole URL map is
walked, so a route added later is covered too. Only the protocol endpoints (client systems
post there with their own credentials, RFC 6749) and the upstream's back-channel logout are
exempt, by blueprint."""

from __future__ import annotations

import pytest
from werkzeug.routing import Rule

from idp import csrf

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


def _url(rule: Rule) -> str:
    """The rule's path with a harmless value for each variable part."""
    values = {
        name: 7 if type(converter).__name__ == "IntegerConverter" else "x" * 12
        for name, converter in rule._converters.items()
    }
    return rule.build(values, append_unknown=False)[1]


def _exempt(app, rule: Rule) -> bool:  # noqa: ANN001
    blueprint = rule.endpoint.rsplit(".", 1)[0] if "." in rule.endpoint else None
    return app.blueprints.get(blueprint) in csrf._exempt_blueprints


def test_every_form_refuses_a_post_without_its_token(app):
    web = app.test_client()
    checked = []
    for rule in app.url_map.iter_rules():
        for method in sorted(set(rule.methods or ()) & set(UNSAFE)):
            if _exempt(app, rule):
                continue
            response = web.open(_url(rule), method=method, data={"anything": "1"})
            checked.append(rule.rule)
            assert response.status_code == 400, (method, rule.rule, response.status_code)
            body = response.get_data(as_text=True)
            assert "Biểu mẫu đã hết hạn hoặc được gửi từ trang khác" in body, (method, rule.rule)
    assert len(checked) > 20  # the sign-in, account, registration and admin forms at least


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_safe_methods_need_no_token(app, method):
    assert app.test_client().open("/login", method=method).status_code != 400
