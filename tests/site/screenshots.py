"""Screenshots of a built site at laptop (1366x768) and phone (390x844) sizes, to look at by eye.

    python tests/site/screenshots.py public /tmp/shots "" papers/vaccine-2024/ browse/ explore/graph/

Not a test: the browser tests check behaviour; whether a page looks right is for a person to judge.
"""

from __future__ import annotations

import functools
import socketserver
import sys
import tempfile
import threading
import time
from pathlib import Path

from site_helpers import CHROMEDRIVER, QuietHandler, chromium_options

SIZES = [(1366, 768, "laptop"), (390, 844, "phone")]


def main(site: str, out: str, pages: list[str]) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=site))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    for width, height, name in SIZES:
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=chromium_options(Path(tempfile.mkdtemp()), width, height))
        if width < 500:  # a phone: mobile viewport, so Material switches to its drawer layout
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True})
        for page in pages:
            driver.get(base + page)
            time.sleep(1.5 if "graph" in page else 0.4)  # the graph lays itself out first
            driver.save_screenshot(str(out_dir / f"{page.strip('/').replace('/', '_') or 'home'}_{name}.png"))
            errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
            if errors:
                print(f"{page} ({name}): {errors}")
        driver.quit()
    server.shutdown()
    print(f"screenshots in {out_dir}")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
