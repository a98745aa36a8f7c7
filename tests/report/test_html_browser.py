"""report.html in a real browser: Debian's chromium (``/usr/bin/chromium``, installed by ``make tools``) driven by
Playwright with ``executable_path`` — no browser download. The page is loaded from ``file://`` with every request
recorded and every non-file request aborted: it must render the four sections in order with their rows, the phase
timeline and the coverage block, and ask the network for nothing."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright
from report_builders import PREDICTED_BASIS, make_broke

from harness.report import write_reports

CHROMIUM = Path("/usr/bin/chromium")
SECTIONS = [  # (id, heading, rows): make_broke has a row in each section
    ("sec-broke", "Broke in this rehearsal (1)", 1),
    ("sec-predicted", "Predicted to break (not observable here) (1)", 1),
    ("sec-already-broken", "Already broken before the upgrade (1)", 1),
    ("sec-not-judged", "Not judged (3)", 3),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: `make tools` installs Debian's chromium (apt-get install chromium); "
                    f"{shutil.which('chromium') or 'no chromium on PATH either'}")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


class Guard:
    """Every request the page makes; anything but ``file:`` is aborted before it leaves."""

    def __init__(self, page: Page) -> None:
        self.requested: list[str] = []
        self.aborted: list[str] = []
        self.errors: list[str] = []
        page.route("**/*", self._route)
        page.on("request", lambda request: self.requested.append(request.url))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)

    def _route(self, route: Route) -> None:
        url = route.request.url
        if url.startswith("file:"):
            route.continue_()
        else:
            self.aborted.append(url)
            route.abort()


def _box_ok(page: Page, selector: str) -> dict[str, float]:
    locator = page.locator(selector)
    assert locator.is_visible(), selector
    box = locator.bounding_box()
    assert box is not None and box["width"] > 0 and box["height"] > 0, (selector, box)
    return box


def test_report_html_renders_sections_timeline_and_coverage_offline(browser: Browser, tmp_path: Path) -> None:
    path = write_reports(make_broke(), tmp_path)["html"]
    url = path.resolve().as_uri()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    guard = Guard(page)
    page.goto(url, wait_until="load")

    assert page.title() == "rehearse: BROKE 1.27.16 → 1.28.15 (prod-us)"
    headings = page.locator("section.sec > h2")
    assert headings.all_inner_texts() == [heading for _, heading, _ in SECTIONS]
    tops = []
    for section_id, heading, rows in SECTIONS:
        box = _box_ok(page, f"#{section_id} > h2")
        tops.append(box["y"])
        body_rows = page.locator(f"#{section_id} tbody tr")
        assert body_rows.count() == rows, heading
        for i in range(rows):
            assert body_rows.nth(i).is_visible()
    assert tops == sorted(tops) and len(set(tops)) == 4  # rendered in this order, top to bottom

    broke = page.locator("#sec-broke tbody tr").first.locator("td").all_inner_texts()
    assert broke[:4] == ["CronJob jobs/nightly | <backup> (batch/v1beta1)",
                         "batch/v1beta1 CronJob is no longer served in 1.25+", "migrate the manifest to batch/v1",
                         "observed"]
    predicted = page.locator("#sec-predicted tbody tr").first.locator("td").all_inner_texts()
    assert predicted[3] == f"predicted: {PREDICTED_BASIS}" and predicted[4] == "1.27.16→1.28.15"
    not_judged = page.locator("#sec-not-judged tbody tr").nth(2).inner_text()
    assert "ServiceMonitor apps/web" in not_judged and "not recreated" in not_judged

    bars = page.locator(".timeline .tl-bar")
    assert bars.count() == 5
    widths = []
    for i in range(5):
        box = bars.nth(i).bounding_box()
        assert box is not None and box["width"] > 0 and box["height"] > 0, (i, box)
        widths.append(box["width"])
    assert max(widths) == widths[3]  # the upgrade hop, 95 of 166 seconds
    assert page.locator(".timeline .tl-name").all_inner_texts()[3] == "upgrade 1.28.15"

    coverage = _box_ok(page, "#coverage")
    assert coverage["y"] > tops[-1]
    text = page.locator("#coverage").inner_text()
    assert "30 of 31 recreated" in text
    assert "4 observed · 0 simulated (kwok) · 0 predicted · 1 skipped · 1 not run" in text
    assert page.locator("#coverage tbody tr").count() == 1  # the object not recreated, with its reason
    _box_ok(page, "#coverage-line")

    assert guard.errors == []
    assert guard.aborted == [] and guard.requested == [url]  # the page itself and nothing else

    # The guard is real: a request for anything else is seen and stopped.
    page.evaluate("() => { const i = new Image(); i.src = 'http://rehearse.invalid/x.png'; document.body.append(i); }")
    page.wait_for_timeout(200)
    assert guard.aborted == ["http://rehearse.invalid/x.png"]
    page.close()
