"""Issue 26 item 1: the search finds a method by its name in any casing and spacing, and people by name.

Measured in the repository's own built site (the records readers get), in Chromium at 1280 px and 390 px:
the query is typed into Material's search box and the first result is read from the rendered list.
"""

from __future__ import annotations

import pytest

from test_browser import console_errors, open_page, wait_for

pytestmark = pytest.mark.browser

# query -> the page that must be the first result
FIRST = {
    "safelora": "papers/safe-lora-2024/",
    "SafeLoRA": "papers/safe-lora-2024/",
    "safe lora": "papers/safe-lora-2024/",
    "Safe LoRA": "papers/safe-lora-2024/",
    "repnoise": "papers/repnoise-2024/",
    "RepNoise": "papers/repnoise-2024/",
    "safedelta": "papers/safe-delta-2025/",
    "t_vaccine": "papers/t-vaccine-2024/",
    "Tiansheng Huang": "authors/tiansheng-huang.html",
}


def first_results(browser, base: str, query: str, count: int = 3) -> list[str]:
    """The first `count` result pages (paths without the ?h= highlight) once the list shows results for `query`."""
    from selenium.webdriver.common.by import By

    if not browser.find_element(By.CSS_SELECTOR, "input.md-search__input").is_displayed():  # phone: open the search
        browser.find_element(By.CSS_SELECTOR, 'label.md-header__button[for="__search"]').click()
    box = wait_for(lambda: (lambda b: b if b.is_displayed() else None)(browser.find_element(By.CSS_SELECTOR, "input.md-search__input")))
    box.send_keys(query)
    wanted = "h=" + query.lower().replace(" ", "+")

    def links():
        hrefs = browser.execute_script(
            "return Array.from(document.querySelectorAll('.md-search-result__item > .md-search-result__link'))"
            ".map(function (a) { return a.getAttribute('href'); });")
        # Material writes the query into each link (?h=...): the list is the one for the whole query.
        return hrefs if hrefs and all(wanted in h for h in hrefs[:1]) else None

    hrefs = wait_for(links, timeout=20)
    return [h.split("?", 1)[0].split("#", 1)[0].removeprefix(base) for h in hrefs[:count]]


@pytest.mark.parametrize("query", list(FIRST))
def test_a_method_or_author_name_finds_its_page_first(browser, real_served, sized, query):
    open_page(browser, real_served)
    found = first_results(browser, real_served, query)
    assert found[0] == FIRST[query], f"{query!r} at {sized}: first results {found}"
    assert console_errors(browser) == []


def test_both_antidote_papers_lead_the_results(browser, real_served, sized):
    # Two records are called Antidote (2024, post-fine-tuning) and AntiDote (2025, tamper resistance): the
    # second was unreachable while the separator split "AntiDote" at its capital.
    open_page(browser, real_served)
    assert set(first_results(browser, real_served, "antidote", 2)) == {"papers/antidote-2024/", "papers/antidote-2025/"}
