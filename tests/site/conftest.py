"""Fixtures for the site tests: a fabricated knowledge base (with hostile records) built once per session,
served over HTTP from a thread, and headless Debian Chromium driven by selenium."""

from __future__ import annotations

import functools
import shutil
import socketserver
import threading
from pathlib import Path

import pytest
from site_helpers import CHROMEDRIVER, CHROMIUM, REPO, QuietHandler, build, chromium_options, emulated, write_demo_registry


@pytest.fixture(scope="session")
def fabricated_kb(tmp_path_factory) -> Path:
    from hftkb.site.synthetic import make_kb

    kb = make_kb(tmp_path_factory.mktemp("kb"), 60, hostile=True)
    write_demo_registry(kb)
    return kb


@pytest.fixture(scope="session")
def fabricated_site(fabricated_kb, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("public")
    build(fabricated_kb, out)
    return out


@pytest.fixture(scope="session")
def real_site(tmp_path_factory) -> Path:
    """The site of this repository's own records (what readers get), built once per session."""
    out = tmp_path_factory.mktemp("real-public")
    build(REPO, out)
    return out


@pytest.fixture(scope="session")
def served(fabricated_site):
    """Base URL of the fabricated site served on 127.0.0.1 with a random free port."""
    yield from _serve(fabricated_site)


@pytest.fixture(scope="session")
def real_served(real_site):
    """Base URL of the repository's own site, served like `served`."""
    yield from _serve(real_site)


def _serve(directory: Path):
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()) and not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.fail("Debian chromium and chromium-driver are needed for the browser tests: run `make browser` "
                    "(`make test` does it for you)", pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver = webdriver.Chrome(
        service=Service(str(CHROMEDRIVER)), options=chromium_options(tmp_path_factory.mktemp("chromium-profile"))
    )
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


#: The two widths the issue-26 tests run at: a laptop and a 390-px phone (mobile emulation: Material's drawer).
SIZES = {"1280px": (1280, 800, False), "390px": (390, 844, True)}


@pytest.fixture(params=list(SIZES))
def sized(request, browser):
    """The browser at 1280 px, then at 390 px (yields the size's name)."""
    yield from emulated(browser, *SIZES[request.param], request.param)
