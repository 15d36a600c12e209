"""The site as a user meets it: headless Debian Chromium against the fabricated site served over HTTP.

Home -> search a paper -> open it; filter and sort a taxonomy table; the graph draws its nodes; the hostile
records run no script; and no page logs a console error.
"""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.browser


def wait_for(condition, timeout: float = 10.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        time.sleep(interval)


def open_page(browser, url: str):
    browser.get(url)
    # A script-driven alert() from a hostile record would block here: fail loudly if one is open.
    try:
        alert = browser.switch_to.alert
    except Exception:
        alert = None
    if alert is not None:
        text = alert.text
        alert.dismiss()
        raise AssertionError(f"a page ran alert({text!r})")
    # Record an alert() call even when the dialog was auto-dismissed.
    browser.execute_script("window.__alerts = []; window.alert = function (m) { window.__alerts.push(String(m)); };")


def search(browser, query: str, wanted, timeout: float = 20.0) -> list[dict]:
    """Type `query` into the search box and wait until the result list satisfies `wanted`.

    Material re-renders the result list on every keystroke, so element handles go stale between a lookup and a
    read (CI failed once on exactly that). Each poll therefore reads the whole list in one script call, as plain
    {href, text} snapshots, and the wait ends only when the snapshot is the one the test asks about.
    """
    from selenium.webdriver.common.by import By

    box = browser.find_element(By.CSS_SELECTOR, "input.md-search__input")
    browser.execute_script("arguments[0].focus()", box)
    box.send_keys(query)

    def snapshot():
        results = browser.execute_script(
            "return Array.from(document.querySelectorAll('.md-search-result__link'))"
            ".map(function (a) { return {href: a.href, text: a.innerText}; });"
        )
        return results if results and wanted(results) else None

    return wait_for(snapshot, timeout=timeout)


def console_errors(browser) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def test_home_search_and_open_a_paper(browser, served):
    from selenium.webdriver.common.by import By

    title = _paper_title(browser, served, "paper-00017")
    open_page(browser, served)
    assert "Harmful Fine-tuning" in browser.title
    assert browser.find_element(By.CSS_SELECTOR, ".hftkb-total strong").text == "60"
    assert len(browser.find_elements(By.CSS_SELECTOR, ".hftkb-latest li")) == 8
    # Search for the paper by the first words of its title, as a user would type them.
    search(browser, " ".join(title.split()[:4]), lambda found: any("papers/paper-00017/" in r["href"] for r in found))
    # Click the result link itself (looked up and clicked in one call, so the list cannot change in between).
    clicked = browser.execute_script(
        "var a = Array.from(document.querySelectorAll('.md-search-result__link'))"
        ".find(function (a) { return a.href.indexOf('papers/paper-00017/') >= 0; });"
        "if (a) { a.click(); return true; } return false;"
    )
    assert clicked
    wait_for(lambda: "papers/paper-00017/" in browser.current_url)
    assert browser.find_element(By.CSS_SELECTOR, "h1#paper").text.endswith(title)
    assert "@" in browser.find_element(By.ID, "bibtex-paper-00017").text
    assert console_errors(browser) == []


def _paper_title(browser, served, paper_id: str) -> str:
    from selenium.webdriver.common.by import By

    browser.get(f"{served}papers/{paper_id}/")
    return browser.find_element(By.CSS_SELECTOR, "h1#paper").text.split(": ", 1)[-1]


def test_filter_and_sort_a_taxonomy_table(browser, served):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    open_page(browser, f"{served}browse/")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.hftkb-table tbody tr")
    assert len(rows) == 60

    def visible():
        return [r for r in browser.find_elements(By.CSS_SELECTOR, "table.hftkb-table tbody tr") if r.is_displayed()]

    Select(browser.find_element(By.CSS_SELECTOR, 'select[data-filter="kind"]')).select_by_value("defense")
    shown = visible()
    assert 0 < len(shown) < 60
    assert {r.get_attribute("data-kind") for r in shown} == {"defense"}
    assert browser.find_element(By.CSS_SELECTOR, "[data-shown]").text == str(len(shown))
    Select(browser.find_element(By.CSS_SELECTOR, 'select[data-filter="stage"]')).select_by_value("alignment")
    assert {(r.get_attribute("data-kind"), r.get_attribute("data-stage")) for r in visible()} == {("defense", "alignment")}
    browser.find_element(By.CSS_SELECTOR, 'input[data-filter="code"]').click()
    assert all(r.get_attribute("data-code") == "1" for r in visible())
    # Reset, then sort by title (A to Z) and by date (oldest first after two clicks).
    open_page(browser, f"{served}browse/")
    browser.find_element(By.CSS_SELECTOR, 'button[data-sort="title"]').click()
    titles = [r.find_elements(By.CSS_SELECTOR, "td a")[0].text.lower() for r in visible()]
    assert titles == sorted(titles)
    sorted_by = browser.find_elements(By.CSS_SELECTOR, "table.hftkb-table th[aria-sort]")
    assert [(th.text.strip(" ↑↓↕"), th.get_attribute("aria-sort")) for th in sorted_by] == [("Title", "ascending")]
    date_button = browser.find_element(By.CSS_SELECTOR, 'button[data-sort="date"]')
    date_button.click()
    date_button.click()
    dates = [r.find_element(By.CSS_SELECTOR, "td").text for r in visible()]
    assert dates == sorted(dates)
    browser.find_element(By.CSS_SELECTOR, 'input[data-filter="text"]').send_keys("vaccine")
    assert all("vaccine" in r.text.lower() for r in visible())
    assert console_errors(browser) == []


def test_graph_draws_nodes_and_filters_them(browser, served):
    from selenium.webdriver.common.by import By

    open_page(browser, f"{served}explore/graph/")
    drawn = wait_for(lambda: browser.execute_script("return window.hftkbGraph && window.hftkbGraph.nodes().length"))
    status = browser.find_element(By.CSS_SELECTOR, ".hftkb-graph-status").text
    assert f"{drawn} of 60 papers shown" in status  # papers without relations are hidden by default
    assert 0 < drawn <= 60
    defenses = browser.execute_script("return window.hftkbGraph.nodes('[kind = \"defense\"]').length")
    assert defenses > 0
    # The canvas has pixels on it.
    painted = browser.execute_script(
        "var c = document.querySelector('#hftkb-cy canvas:last-of-type') || document.querySelector('#hftkb-cy canvas');"
        "var all = document.querySelectorAll('#hftkb-cy canvas'); var n = 0;"
        "all.forEach(function (cv) { var d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;"
        "  for (var i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; } }); return n;"
    )
    assert painted > 100
    browser.find_element(By.CSS_SELECTOR, 'input[data-kind="defense"]').click()
    wait_for(lambda: browser.execute_script("return window.hftkbGraph.nodes('[kind = \"defense\"]').length === 0"))
    assert browser.execute_script("return window.hftkbGraph.nodes().length") < drawn
    browser.find_element(By.CSS_SELECTOR, "input[data-isolated]").click()  # show every paper
    browser.find_element(By.CSS_SELECTOR, 'input[data-kind="defense"]').click()
    wait_for(lambda: browser.execute_script("return window.hftkbGraph.nodes().length") == 60)
    time.sleep(0.3)  # let the renderer draw a frame; a rendering error would reach the console
    assert console_errors(browser) == []
    # Clicking a node opens the paper's page.
    browser.execute_script("window.hftkbGraph.getElementById('paper-00003').emit('tap')")
    wait_for(lambda: browser.current_url.endswith("/papers/paper-00003/"))
    assert console_errors(browser) == []


@pytest.mark.parametrize(
    "path", ["papers/paper-00000/", "tags/hostile/", "faq/hostile-question/", "papers/paper-00001/", "browse/",
             "implementations/demo/", "explore/timeline/", "downloads/"],
)
def test_hostile_records_run_nothing(browser, served, path):
    open_page(browser, served + path)
    time.sleep(0.2)
    assert browser.execute_script("return window.__alerts") == []
    # No element carries an event-handler attribute, and no script element came from a record.
    handlers = browser.execute_script(
        "var n = 0; document.querySelectorAll('*').forEach(function (e) { for (var a of e.attributes)"
        " { if (/^on/i.test(a.name)) n++; } }); return n;"
    )
    assert handlers == 0
    inline = browser.execute_script(
        "return Array.from(document.scripts).filter(function (s) { return /alert/.test(s.textContent); }).length"
    )
    assert inline == 0
    assert console_errors(browser) == []


def test_search_results_show_hostile_titles_as_text(browser, served):
    open_page(browser, served)
    # Waits until a result shows the hostile title as literal text; times out (fails) if it never does.
    results = search(browser, "survives", lambda found: any("<script>alert" in r["text"] for r in found))
    assert any("<script>alert" in r["text"] for r in results)  # shown as text ...
    time.sleep(0.3)
    assert browser.execute_script("return window.__alerts") == []  # ... never run
    assert browser.execute_script("return document.querySelectorAll('.md-search-result script, .md-search-result img').length") == 0
    assert console_errors(browser) == []


# -- issue 16: authors, citing, reported results; each on a desktop and on a 390-px-wide phone -----------------

VIEWPORTS = {"desktop": (1366, 768, False), "phone": (390, 844, True)}


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request, browser):
    from site_helpers import emulated

    yield from emulated(browser, *VIEWPORTS[request.param], request.param)


def no_horizontal_overflow(browser) -> bool:
    """The page itself never scrolls sideways (wide tables scroll inside their own box)."""
    return browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_author_page_lists_every_spelling_and_leads_to_the_papers(browser, served, viewport):
    from selenium.webdriver.common.by import By

    open_page(browser, f"{served}papers/paper-00001/")
    link = browser.find_element(By.CSS_SELECTOR, ".hftkb-authors a")
    assert link.text == "Huang, Tiansheng"
    browser.execute_script("arguments[0].click()", link)
    wait_for(lambda: browser.current_url.endswith("/authors/tiansheng-huang.html"))
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == "Tiansheng Huang"
    papers = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "main li a")]
    assert sorted(p.rsplit("/", 2)[-2] for p in papers) == ["paper-00001", "paper-00002", "paper-00003"]
    assert no_horizontal_overflow(browser)
    assert console_errors(browser) == []
    # The index filters by name.
    open_page(browser, f"{served}authors/")
    browser.find_element(By.CSS_SELECTOR, 'input[data-filter="text"]').send_keys("tiansheng")
    shown = [r for r in browser.find_elements(By.CSS_SELECTOR, "table.hftkb-table tbody tr") if r.is_displayed()]
    assert [r.find_element(By.CSS_SELECTOR, "a").text for r in shown] == ["Tiansheng Huang"]
    assert console_errors(browser) == []


def test_copy_buttons_put_the_bibtex_and_the_reference_on_the_clipboard(browser, served, viewport):
    from selenium.webdriver.common.by import By

    origin = served.rstrip("/")
    browser.execute_cdp_cmd("Browser.grantPermissions", {"origin": origin, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    open_page(browser, f"{served}papers/paper-00002/")
    bib = (browser.find_element(By.ID, "bibtex-paper-00002").get_attribute("textContent"))
    assert bib.startswith("@") and "Tiansheng Huang" in bib

    def clipboard():
        return browser.execute_async_script(
            "var done = arguments[arguments.length - 1];"
            "navigator.clipboard.readText().then(done, function (e) { done('ERROR ' + e); });")

    for target, expected in (("bibtex-paper-00002", bib),
                             ("reference-paper-00002", browser.find_element(By.ID, "reference-paper-00002").get_attribute("textContent"))):
        button = browser.find_element(By.CSS_SELECTOR, f'button[data-copy-target="{target}"]')
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        button.click()
        wait_for(lambda: button.text == "Copied")
        assert clipboard() == expected
    assert expected.startswith("Tiansheng Huang, José García, and P. Writer. ")
    assert console_errors(browser) == []


def test_results_page_filters_and_sorts(browser, served, viewport):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    open_page(browser, f"{served}results/harmful-score/")

    def visible():
        return [r for r in browser.find_elements(By.CSS_SELECTOR, "table.hftkb-results-table tbody tr") if r.is_displayed()]

    total = len(visible())
    assert total > 5
    model = Select(browser.find_element(By.CSS_SELECTOR, 'select[data-filter="model"]'))
    wanted = model.options[1].get_attribute("value")
    model.select_by_value(wanted)
    shown = visible()
    assert 0 < len(shown) < total and {r.get_attribute("data-model") for r in shown} == {wanted}
    assert browser.find_element(By.CSS_SELECTOR, "[data-shown]").text == str(len(shown))
    ratio = Select(browser.find_element(By.CSS_SELECTOR, 'select[data-filter="ratio"]'))
    ratio.select_by_value(ratio.options[1].get_attribute("value"))
    assert {(r.get_attribute("data-model"), r.get_attribute("data-ratio")) for r in visible()} <= {(wanted, ratio.first_selected_option.get_attribute("value"))}
    model.select_by_value("")
    ratio.select_by_value("")
    assert len(visible()) == total
    # Sort by the difference to SFT: largest first, then smallest first; rows without a difference stay last.
    button = browser.find_element(By.CSS_SELECTOR, 'button[data-sort="diff"]')
    for order in ("descending", "ascending"):
        browser.execute_script("arguments[0].click()", button)
        values = [r.find_elements(By.CSS_SELECTOR, "td")[8].get_attribute("data-value") for r in visible()]
        numbers = [float(v) for v in values if v != ""]
        assert numbers == sorted(numbers, reverse=order == "descending") and len(numbers) > 3
        assert values[len(numbers):] == [""] * (len(values) - len(numbers))
        assert button.find_element(By.XPATH, "..").get_attribute("aria-sort") == order
    # The method links to its own record; the last cell to the reporting paper and the source table.
    last = visible()[0].find_elements(By.CSS_SELECTOR, "td")[9].find_elements(By.CSS_SELECTOR, "a")
    assert "/papers/paper-" in last[0].get_attribute("href") and "/results/tables/" in last[1].get_attribute("href")
    assert no_horizontal_overflow(browser)
    assert console_errors(browser) == []
    open_page(browser, f"{served}results/")
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.hftkb-scatter circle")) > 3
    assert console_errors(browser) == []


def test_results_filters_live_in_the_url_and_a_shared_link_restores_them(browser, served, viewport):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    open_page(browser, f"{served}results/harmful-score/")

    def visible():
        return [r for r in browser.find_elements(By.CSS_SELECTOR, "table.hftkb-results-table tbody tr") if r.is_displayed()]

    total = len(visible())
    task = Select(browser.find_element(By.CSS_SELECTOR, 'select[data-filter="task"]'))
    wanted = task.options[1].get_attribute("value")
    task.select_by_value(wanted)
    wait_for(lambda: f"task={wanted}" in browser.current_url)
    shown = len(visible())
    assert 0 < shown < total
    shared = browser.current_url
    # A fresh visit of the shared address shows the same filtered view.
    open_page(browser, f"{served}results/")
    open_page(browser, shared)
    assert Select(browser.find_element(By.CSS_SELECTOR, 'select[data-filter="task"]')).first_selected_option.get_attribute("value") == wanted
    assert len(visible()) == shown and {r.get_attribute("data-task") for r in visible()} == {wanted}
    assert browser.find_element(By.CSS_SELECTOR, "[data-shown]").text == str(shown)
    # Clearing the filter clears the address; a value the page does not offer is ignored.
    Select(browser.find_element(By.CSS_SELECTOR, 'select[data-filter="task"]')).select_by_value("")
    wait_for(lambda: "task=" not in browser.current_url)
    open_page(browser, f"{served}results/harmful-score/?model=no-such-model")
    assert len(visible()) == total
    assert no_horizontal_overflow(browser)
    assert console_errors(browser) == []


def test_source_table_leads_to_each_methods_as_reported_numbers(browser, served, viewport):
    from selenium.webdriver.common.by import By

    open_page(browser, f"{served}results/tables/")
    links = browser.find_elements(By.CSS_SELECTOR, "main table a[href*='/results/tables/']")
    assert links
    # A table with a row of another paper's method (a shared table).
    for href in [a.get_attribute("href") for a in links]:
        open_page(browser, href)
        reporter = browser.find_element(By.CSS_SELECTOR, "main p a[href*='/papers/']").get_attribute("href")
        others = [a for a in browser.find_elements(By.CSS_SELECTOR, "table.hftkb-source-table tbody th a")
                  if a.get_attribute("href") != reporter]
        if others:
            break
    else:
        raise AssertionError("no source table re-runs another paper's method")
    assert no_horizontal_overflow(browser)
    assert console_errors(browser) == []
    target = others[0].get_attribute("href")
    browser.execute_script("arguments[0].click()", others[0])
    wait_for(lambda: browser.current_url == target)
    section = browser.find_element(By.ID, "as-reported")
    assert section.is_displayed()
    reporters = {a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "table.hftkb-as-reported td a[href*='/papers/']")}
    assert reporter in reporters  # the paper whose table we came from reports a number for this method
    assert browser.find_elements(By.CSS_SELECTOR, ".hftkb-setting")
    assert no_horizontal_overflow(browser)
    assert console_errors(browser) == []


def test_canonical_view_sorts_by_delta_and_states_the_caveat(browser, served, viewport):
    from selenium.webdriver.common.by import By

    open_page(browser, f"{served}results/canonical/")
    caveat = browser.find_element(By.CSS_SELECTOR, ".admonition.warning")
    assert caveat.is_displayed() and "different papers" in caveat.text
    rows = browser.find_elements(By.CSS_SELECTOR, "table.hftkb-canonical-table tbody tr")
    assert len(rows) > 2
    button = browser.find_element(By.CSS_SELECTOR, 'button[data-sort="dhs"]')
    browser.execute_script("arguments[0].click()", button)
    values = [r.find_elements(By.CSS_SELECTOR, "td")[2].get_attribute("data-value")
              for r in browser.find_elements(By.CSS_SELECTOR, "table.hftkb-canonical-table tbody tr")]
    numbers = [float(v) for v in values if v != ""]
    assert numbers == sorted(numbers, reverse=True) and numbers
    assert no_horizontal_overflow(browser)
    assert console_errors(browser) == []
