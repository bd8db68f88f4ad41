"""The page gallery: each page of the journeys at 390 px (a phone) and 1280 px (a desktop), saved
into test-artifacts/gallery/ with an index.html that shows the two side by side, and measured
at 390 px: nothing may scroll sideways and no visible text may be smaller than 12 px."""

from __future__ import annotations

import html
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .conftest import ARTIFACTS

GALLERY = ARTIFACTS / "gallery"
PHONE = (390, 844)
DESKTOP = (1280, 900)
SMALLEST_TEXT_PX = 12.0

# Every element that shows text of its own, with the size it is drawn at: CSS pixels for HTML,
# the font size times the drawing scale for SVG text (a chart scaled down shrinks its labels).
MEASURE_TEXT = """() => {
  const small = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (!box.width || !box.height || style.visibility === "hidden") continue;
    if (box.right < 0 || box.bottom < 0) continue;  // moved off screen (the skip link)
    let size = parseFloat(style.fontSize);
    if (el instanceof SVGElement && el.getScreenCTM) {
      const m = el.getScreenCTM();
      if (m) size = size * Math.hypot(m.a, m.b);
    }
    if (size < SMALLEST) {
      small.push(`${el.tagName.toLowerCase()} ${size.toFixed(1)}px: ${el.textContent.trim().slice(0, 40)}`);
    }
  }
  return small.slice(0, 10);
}""".replace("SMALLEST", str(SMALLEST_TEXT_PX))


@dataclass
class Shot:
    name: str
    title: str
    problems: list[str] = field(default_factory=list)


@dataclass
class Gallery:
    folder: Path
    shots: list[Shot] = field(default_factory=list)

    def shoot(self, page, name: str, title: str) -> list[str]:  # noqa: ANN001
        """Saves the page at both widths and returns what is wrong with it on a phone."""
        shot = Shot(name, title)
        page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
        page.screenshot(path=str(self.folder / f"{name}-390.png"), full_page=True)
        scroll = page.evaluate("document.documentElement.scrollWidth")
        if scroll > PHONE[0]:
            shot.problems.append(f"{name}: scrolls sideways at 390 px ({scroll} px wide)")
        shot.problems += [f"{name}: text under 12 px: {s}" for s in page.evaluate(MEASURE_TEXT)]
        page.set_viewport_size({"width": DESKTOP[0], "height": DESKTOP[1]})
        page.screenshot(path=str(self.folder / f"{name}-1280.png"), full_page=True)
        self.shots = [s for s in self.shots if s.name != name] + [shot]
        self.write_index()
        return shot.problems

    def write_index(self) -> None:
        rows = []
        for shot in self.shots:
            note = "".join(f"<li>{html.escape(p)}</li>" for p in shot.problems)
            rows.append(
                f'<section><h2 id="{shot.name}">{html.escape(shot.title)}</h2>'
                + (f'<ul class="problems">{note}</ul>' if note else "")
                + f'<div class="pair"><figure><img src="{shot.name}-390.png" alt="" width="390">'
                f"<figcaption>390 px</figcaption></figure>"
                f'<figure><img src="{shot.name}-1280.png" alt="" width="640">'
                f"<figcaption>1280 px</figcaption></figure></div></section>"
            )
        (self.folder / "index.html").write_text(
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<title>Page gallery</title><style>"
            "body{font:15px system-ui,sans-serif;margin:1rem}"
            ".pair{display:flex;gap:1.5rem;align-items:flex-start}"
            "figure{margin:0}img{border:1px solid #999}.problems{color:#a50e0e}"
            "</style></head><body><h1>Page gallery</h1>" + "".join(rows) + "</body></html>",
            encoding="utf-8",
        )


def new_gallery() -> Gallery:
    """A gallery for this run: what an earlier run left is cleared first."""
    shutil.rmtree(GALLERY, ignore_errors=True)
    GALLERY.mkdir(parents=True)
    return Gallery(GALLERY)
