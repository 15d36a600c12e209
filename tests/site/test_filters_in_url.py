"""Issue 26 item 10: a table's filters are kept in the URL, so a filtered view can be shared and restored."""

from __future__ import annotations

import pytest

from test_browser import console_errors, open_page, wait_for

pytestmark = pytest.mark.browser


def test_filters_are_written_to_and_read_from_the_url(browser, served, sized):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    def visible():
        return [r for r in browser.find_elements(By.CSS_SELECTOR, "table.hftkb-table tbody tr") if r.is_displayed()]

    open_page(browser, f"{served}browse/")
    Select(browser.find_element(By.CSS_SELECTOR, 'select[data-filter="kind"]')).select_by_value("defense")
    browser.execute_script("arguments[0].click()", browser.find_element(By.CSS_SELECTOR, 'input[data-filter="code"]'))
    wait_for(lambda: "kind=defense" in browser.current_url and "code=1" in browser.current_url)
    shared = browser.current_url
    shown = len(visible())
    assert 0 < shown < 60
    # Opening the shared URL restores the same view.
    open_page(browser, f"{served}")
    open_page(browser, shared)
    assert Select(browser.find_element(By.CSS_SELECTOR, 'select[data-filter="kind"]')).first_selected_option.get_attribute("value") == "defense"
    assert browser.find_element(By.CSS_SELECTOR, 'input[data-filter="code"]').is_selected()
    assert len(visible()) == shown and {r.get_attribute("data-kind") for r in visible()} == {"defense"}
    assert browser.find_element(By.CSS_SELECTOR, "[data-shown]").text == str(shown)
    # Clearing a filter takes it out of the URL; an unknown value in the URL is ignored.
    Select(browser.find_element(By.CSS_SELECTOR, 'select[data-filter="kind"]')).select_by_value("")
    wait_for(lambda: "kind=" not in browser.current_url)
    open_page(browser, f"{served}browse/?kind=nonsense")
    assert len(visible()) == 60
    assert console_errors(browser) == []
