"""The admin console on a phone and a desktop: tables become stacked rows under ~640 px, the
desktop uses the width, no word is cut in the middle; events, details and states in the
interface language; the client column headed as a system; chart text at 12 px or more."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .conftest import DevStack
from .gallery import MEASURE_TEXT

# Words cut in the middle: a word drawn on more than one line although it is narrower than half
# the table (a long random token, wider than a phone's column, may still break).
BROKEN_WORDS = """(selector) => {
  const broken = [];
  const root = document.querySelector(selector);
  const room = root.getBoundingClientRect().width / 2;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const m of node.textContent.matchAll(/\\S+/g)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const rects = [...range.getClientRects()].filter(r => r.width > 0);
      const tops = new Set(rects.map(r => Math.round(r.top)));
      const width = rects.reduce((sum, r) => sum + r.width, 0);
      if (tops.size > 1 && width <= room) broken.push(m[0]);
    }
  }
  return broken.slice(0, 10);
}"""


def test_admin_console_stacks_tables_on_a_phone_and_speaks_the_interface_language(
    admin_page: Page, dev_stack: DevStack
):
    page = admin_page
    page.goto(dev_stack.hub + "/admin/audit")
    table = page.locator("#audit")
    expect(table.locator("thead")).to_contain_text("Hệ thống kết nối")
    events = table.locator("tbody .event")
    assert "Đăng nhập thành công" in events.all_inner_texts()
    assert not any(re.fullmatch(r"[a-z_]+", t) for t in events.all_inner_texts())
    details = table.locator("tbody td:last-child").all_inner_texts()
    assert not any("{" in d or '"' in d for d in details), details
    assert any("phương thức: mã SMS" in d for d in details), details
    assert re.search(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}", table.inner_text())

    # A desktop: the table uses the width, and no word is cut.
    width = table.evaluate("t => t.getBoundingClientRect().width")
    assert width > 1100, width
    assert page.evaluate(BROKEN_WORDS, "#audit") == []

    # A phone: each row is a block of labelled lines, still no word cut, nothing sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    assert table.locator("thead").evaluate("h => getComputedStyle(h).position") == "absolute"
    cell = table.locator("tbody tr").first.locator("td").first
    assert cell.evaluate("c => getComputedStyle(c).display") == "grid"
    label = cell.evaluate("c => getComputedStyle(c, '::before').content")
    assert label == '"Thời gian"', label
    assert page.evaluate(BROKEN_WORDS, "#audit") == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.goto(dev_stack.hub + "/admin/users?q=congdan01")
    expect(page.locator("#users td.state")).to_have_text("đang hoạt động")
    page.goto(dev_stack.hub + "/admin/clients")
    expect(page.locator("#clients thead th").first).to_have_text("Tên hệ thống")
    page.goto(dev_stack.hub + "/admin")
    assert page.evaluate(MEASURE_TEXT) == []  # the charts' text too
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
