"""Helpers shared by the site tests, their fixtures and `screenshots.py`."""

from __future__ import annotations

import http.server
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def build(kb_dir: Path, out_dir: Path) -> None:
    from hftkb.commands.build import build_site

    build_site(kb_dir, out_dir, REPO / "mkdocs.yml")


def copy_project(tmp_path: Path) -> Path:
    """mkdocs.yml and site/ in a scratch folder (hooks by absolute path), to break them safely."""
    import shutil

    project = tmp_path / "project"
    shutil.copytree(REPO / "site", project / "site")
    config = (REPO / "mkdocs.yml").read_text().replace("- hftkb/site/hooks.py", f"- {REPO / 'hftkb/site/hooks.py'}")
    (project / "mkdocs.yml").write_text(config)
    return project


def write_demo_registry(kb: Path) -> None:
    """A registry with one method whose paper is in the fabricated KB, and its module, for the implementation
    pages (read with ast; never imported)."""
    (kb / "reference_impl" / "defenses").mkdir(parents=True)
    (kb / "reference_impl" / "registry.py").write_text(
        "from dataclasses import dataclass\n\n\n@dataclass(frozen=True)\nclass Method:\n"
        "    name: str\n    module: str\n    stage: str\n    paper: str | None = None\n"
        '    arxiv: str | None = None\n    summary: str = ""\n\n\n'
        "METHODS = {m.name: m for m in [\n"
        '    Method("sft", "reference_impl.baselines", "alignment", summary="Baseline <b>SFT</b>."),\n'
        '    Method("demo", "reference_impl.defenses.demo", "alignment", "paper-00002", "2402.00002", "Demo defense."),\n'
        "]}\n"
    )
    (kb / "reference_impl" / "defenses" / "demo.py").write_text(
        '"""Demo: a fabricated defense <script>alert(1)</script>.\n\n'
        "Paper: KB id `paper-00002`, arXiv 2402.00002.\n\n"
        "Algorithm (eq. 3):\n1. Perturb the weights.\n2. Step against the\n   perturbed gradient.\n\n"
        "Deviations:\n* None at all.\n\n"
        "Usage:\n    python -m reference_impl run config.yaml --method demo\n"
        '"""\n\nimport torch\nfrom dataclasses import dataclass, field\n\n'
        'STAGE = "alignment"\nNEEDS = ("alignment_data",)\n\n\n@dataclass(frozen=True)\nclass Config:\n'
        '    rho: float = field(default=2.0, metadata={"help": "Perturbation radius.", "source": "paper Table 5"})\n'
        '    steps: int = 3\n'
    )
    results = kb / "reference_impl" / "results"
    results.mkdir()
    (results / "miniature_world_v2.json").write_text(
        '{"machine": "test box", "date": "2026-01-01", "command": "python -m reference_impl world",'
        ' "rows": [{"method": "demo", "harmful_ratio": 0.1, "hs": 12.5, "fa": 90.0, "seed": 1},'
        ' {"method": "demo", "harmful_ratio": 0.1, "hs": 20.5, "fa": 92.0, "seed": 2},'
        ' {"method": "sft", "harmful_ratio": 0.1, "hs": 40.0, "fa": 91.0}]}'
    )
    (results / "miniature_world_ablation.json").write_text(
        '{"machine": "test box", "date": "2026-01-01", "command": "python -m reference_impl ablation",'
        ' "rows": [{"method": "demo", "setting": "rho=0.5", "harmful_ratio": 0.1, "hs": 3.0, "fa": 95.0}]}'
    )


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


def chromium_options(user_data_dir: Path, width: int = 1366, height: int = 768):
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
        f"--user-data-dir={user_data_dir}", f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return options


def emulated(browser, width: int, height: int, mobile: bool, name: str):
    """A fixture body: the browser at `width` x `height` (mobile emulation for Material's drawer), yielding `name`,
    then back to the window's own size."""
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})
    yield name
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
