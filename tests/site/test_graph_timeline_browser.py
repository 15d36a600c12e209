"""Issue 26 items 5 and 6 in Chromium at 1280 px and 390 px, on the repository's own site: the graph keeps the
positions laid out at build time (also through filtering), finds papers by name, opens on a paper's
neighbourhood from its page, draws on a phone; the phone's timeline opens on the newest quarters."""

from __future__ import annotations

import json
import time

import pytest

from test_browser import console_errors, no_horizontal_overflow, open_page, wait_for

pytestmark = pytest.mark.browser


def _positions(browser) -> dict:
    return browser.execute_script(
        "var out = {}; window.hftkbGraph.nodes().forEach(function (n) { var p = n.position(); out[n.id()] = [p.x, p.y]; });"
        " return out;")


def _painted(browser) -> int:
    return browser.execute_script(
        "var n = 0; document.querySelectorAll('#hftkb-cy canvas').forEach(function (cv) {"
        " var d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;"
        " for (var i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; } }); return n;")


def test_graph_is_stable_searchable_and_filterable(browser, real_served, real_site, sized):
    from selenium.webdriver.common.by import By

    shipped = {n["data"]["id"]: [n["position"]["x"], n["position"]["y"]]
               for n in json.loads((real_site / "downloads/graph.json").read_text())["elements"]["nodes"]}
    open_page(browser, f"{real_served}explore/graph/")
    wait_for(lambda: browser.execute_script("return window.hftkbGraph && window.hftkbGraph.nodes().length"))
    first = _positions(browser)
    assert first and all(first[node] == pytest.approx(shipped[node]) for node in first)  # the build's layout
    time.sleep(0.3)
    assert _painted(browser) > 500
    assert no_horizontal_overflow(browser)
    # Filtering hides nodes and moves none of the others.
    box = browser.find_element(By.CSS_SELECTOR, 'input[data-stage="alignment"]')
    browser.execute_script("arguments[0].click()", box)
    wait_for(lambda: browser.execute_script("return window.hftkbGraph.nodes('[stage = \"alignment\"]').length === 0"))
    after = _positions(browser)
    assert 0 < len(after) < len(first) and all(after[node] == pytest.approx(first[node]) for node in after)
    browser.execute_script("arguments[0].click()", box)
    # Search by a short name: the paper is highlighted, the others faded, the status names it.
    search = browser.find_element(By.CSS_SELECTOR, "input[data-graph-search]")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", search)
    search.send_keys("vaccine")
    matches = wait_for(lambda: browser.execute_script(
        "return window.hftkbGraph.nodes('.match').map(function (n) { return n.data('label'); })"))
    assert "Vaccine" in matches and "T-Vaccine" in matches
    assert browser.execute_script("return window.hftkbGraph.nodes('.faded').length") > 10
    assert "match" in browser.find_element(By.CSS_SELECTOR, ".hftkb-graph-status").text
    # The text alternative lists the relations.
    assert len(browser.find_elements(By.CSS_SELECTOR, ".hftkb-relation-list li")) > 20
    assert console_errors(browser) == []


def test_paper_page_opens_its_neighbourhood_in_the_graph(browser, real_served, sized):
    from selenium.webdriver.common.by import By

    open_page(browser, f"{real_served}papers/vaccine-2024/")
    figure = browser.find_element(By.CSS_SELECTOR, "figure.hftkb-neighbourhood")
    assert len(figure.find_elements(By.CSS_SELECTOR, "svg a")) >= 10
    link = figure.find_element(By.CSS_SELECTOR, "figcaption a")
    browser.execute_script("arguments[0].click()", link)
    wait_for(lambda: "explore/graph/?focus=vaccine-2024" in browser.current_url)
    selected = wait_for(lambda: browser.execute_script(
        "return window.hftkbGraph && window.hftkbGraph.nodes(':selected').map(function (n) { return n.id(); })"))
    assert selected == ["vaccine-2024"]
    near = browser.execute_script("return window.hftkbGraph.getElementById('vaccine-2024').closedNeighborhood().nodes().length")
    assert near > 10
    assert no_horizontal_overflow(browser)
    assert console_errors(browser) == []


def test_timeline_opens_at_the_newest_quarter(browser, real_served, sized):
    open_page(browser, f"{real_served}explore/timeline/")
    visible = browser.execute_script(
        "var box = document.querySelector('.hftkb-figure .hftkb-scroll'); var r = box.getBoundingClientRect();"
        "var rects = box.querySelectorAll('rect'); var last = rects[rects.length - 1].getBoundingClientRect();"
        "var first = rects[0].getBoundingClientRect();"
        "return {last: last.right <= r.right + 1 && last.left >= r.left - 1, first: first.left >= r.left - 1,"
        " wide: box.scrollWidth > box.clientWidth + 1};")
    assert visible["last"], visible  # the newest quarter is on screen without scrolling
    if sized == "390px":
        assert visible["wide"] and not visible["first"]  # the phone shows the newest end, the oldest needs a scroll
    assert no_horizontal_overflow(browser)
    assert console_errors(browser) == []
