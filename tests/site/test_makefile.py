"""Issue 26 item 11: `make serve` installs only what the site needs; `make test` keeps installing everything.

`make -n` prints the commands a target would run without running them, against a venv path that does not exist
(so every install step shows). The second test builds a site with torch, transformers and peft made unimportable,
so the claim that browsing needs no PyTorch is checked, not assumed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from site_helpers import REPO


def dry_run(target: str, tmp_path: Path) -> str:
    if shutil.which("make") is None:
        pytest.fail("GNU make is needed to read the Makefile's targets", pytrace=False)
    done = subprocess.run(["make", "-n", "-C", str(REPO), f"VENV={tmp_path / 'venv'}", target],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_serve_installs_the_package_alone_and_test_installs_everything(tmp_path: Path):
    serve = dry_run("serve", tmp_path)
    import re

    installs = re.findall(r"pip install -q -c \S+ -e (\S+)", serve)
    assert installs == [".;"], installs  # the package alone (the ';' ends the shell command), no extra
    assert "[all]" not in serve and "[impl]" not in serve and "torch" not in serve
    assert "hftkb build" in serve and "mkdocs serve" in serve
    test = dry_run("test", tmp_path)
    assert "-e '.[all]'" in test and "pytest" in test


def test_the_site_builds_without_torch(tmp_path: Path, fabricated_kb: Path):
    script = (
        "import sys\n"
        "for name in ('torch', 'transformers', 'peft', 'accelerate', 'datasets'):\n"
        "    sys.modules[name] = None  # import raises ImportError\n"
        "from pathlib import Path\n"
        "from hftkb.commands.build import build_site\n"
        f"build_site(Path({str(fabricated_kb)!r}), Path({str(tmp_path / 'out')!r}), Path({str(REPO / 'mkdocs.yml')!r}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=REPO,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "out/implementations/demo/index.html").is_file()
