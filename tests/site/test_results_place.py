"""Issue 26 item 2: the measured results have a top-level place, hold the main table, and read cleanly.

In Chromium at 1280 px and 390 px against the repository's own site: the Results tab (or the phone drawer's
top level) leads to them, the home page's "Where to start" links measured and reported results, the main
table over four harmful ratios is there, the pairs that did not run sit in a note of their own (not run into a
paragraph), and methods show as display names linking to their implementation pages.
"""

from __future__ import annotations

import time

import pytest

from test_browser import console_errors, no_horizontal_overflow, open_page, wait_for

pytestmark = pytest.mark.browser


def test_results_are_a_top_level_section(browser, real_served, sized):
    from selenium.webdriver.common.by import By

    open_page(browser, real_served)
    if sized == "1280px":
        tabs = {a.text.strip(): a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, ".md-tabs__link")}
        assert "Results" in tabs, tabs
        browser.get(tabs["Results"])
    else:  # the phone's drawer: Results is an entry of its top level
        browser.find_element(By.CSS_SELECTOR, 'label.md-header__button[for="__drawer"]').click()
        top = browser.find_elements(By.CSS_SELECTOR, ".md-nav--primary > .md-nav__list > .md-nav__item > label.md-nav__link, "
                                    ".md-nav--primary > .md-nav__list > .md-nav__item > a.md-nav__link")
        names = [browser.execute_script("return arguments[0].textContent.trim()", e) for e in top]
        assert "Results" in names, names
        top[names.index("Results")].click()
        time.sleep(0.5)  # the drawer slides to the section (or Material opens its first page)
        if not browser.current_url.endswith("/reference/measured-results/"):
            measured = wait_for(lambda: next((a for a in browser.find_elements(By.CSS_SELECTOR, "nav.md-nav a.md-nav__link")
                                              if a.is_displayed() and a.text.strip() == "Measured results"), None), timeout=5)
            measured.click()
    wait_for(lambda: browser.current_url.endswith("/reference/measured-results/"))
    assert browser.find_element(By.CSS_SELECTOR, "article h1").text == "Measured results"
    assert no_horizontal_overflow(browser)
    assert console_errors(browser) == []


def test_home_page_links_measured_and_reported_results(browser, real_served, sized):
    from selenium.webdriver.common.by import By

    open_page(browser, real_served)
    cards = {a.text.strip(): a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, ".grid.cards a")}
    assert cards.get("Measured results", "").endswith("/reference/measured-results/"), cards
    assert cards.get("Reported results", "").endswith("/results/"), cards
    for href in (cards["Measured results"], cards["Reported results"]):
        open_page(browser, href)
        assert browser.find_element(By.CSS_SELECTOR, "article h1").text
        assert console_errors(browser) == []
    assert no_horizontal_overflow(browser)


def test_measured_results_show_the_main_table_names_and_a_clean_did_not_run(browser, real_served, sized):
    from selenium.webdriver.common.by import By

    from hftkb.site.generate import load_methods
    from site_helpers import REPO

    open_page(browser, f"{real_served}reference/measured-results/")
    headers = [[th.text for th in t.find_elements(By.CSS_SELECTOR, "th")] for t in browser.find_elements(By.CSS_SELECTOR, "article table")]
    assert any({"HS p=0", "HS p=0.05", "HS p=0.1", "HS p=0.2"} <= set(h) for h in headers), "the main table is missing"
    # Nothing in a paragraph or table cell reads "did not run:" (the raw list line) or is a bare registry id.
    paragraphs = browser.execute_script(
        "return Array.from(document.querySelectorAll('article p, article td')).map(function (e) { return e.textContent; })")
    assert not [p for p in paragraphs if "did not run:" in p]
    ids = set(load_methods(REPO))
    assert not [p for p in paragraphs if p.strip() in ids]
    notes = browser.find_elements(By.CSS_SELECTOR, "article .admonition.note")
    assert any(n.find_element(By.CSS_SELECTOR, ".admonition-title").text == "Did not run" for n in notes)
    link = browser.find_element(By.XPATH, "//article//td/a[normalize-space()='T-Vaccine']")
    assert link.get_attribute("href").endswith("/implementations/t_vaccine/")
    browser.execute_script("arguments[0].click()", link)
    wait_for(lambda: browser.current_url.endswith("/implementations/t_vaccine/"))
    assert browser.find_element(By.CSS_SELECTOR, "article h1").text == "T-Vaccine"
    assert console_errors(browser) == []
