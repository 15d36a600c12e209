"""`hftkb fmt`: canonical rewrite, idempotent, `--check` reports E401 and writes nothing."""

from __future__ import annotations

import shutil
import io
from contextlib import redirect_stderr, redirect_stdout
from types import SimpleNamespace
from pathlib import Path

from hftkb.cli import main

REPO = Path(__file__).resolve().parents[2]
MESSY = """\
kind: defense
id: messy-2024
title:    "Messy: a record written by hand"
added: 2024-02-01
date: 2024-01-02
identifiers: {arxiv: "2402.01109"}
links: [{kind: paper, url: "https://arxiv.org/abs/2402.01109"}]
tags: []
"""


def hftkb(*args: str) -> SimpleNamespace:
    """Run the CLI in-process (fast); returns returncode, stdout and stderr like subprocess.run."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def make_kb(root: Path) -> Path:
    shutil.copytree(REPO / "taxonomy", root / "taxonomy")
    (root / "papers").mkdir()
    (root / "papers" / "messy-2024.yaml").write_text(MESSY)
    return root


def test_check_reports_e401_and_writes_nothing(tmp_path: Path) -> None:
    kb = make_kb(tmp_path)
    result = hftkb("fmt", "--check", "--kb", str(kb))
    assert result.returncode == 1
    assert result.stdout.strip() == f"{kb}/papers/messy-2024.yaml:1: E401 not in canonical format (run `hftkb fmt`)"
    assert (kb / "papers" / "messy-2024.yaml").read_text() == MESSY


def test_fmt_rewrites_canonically_and_is_idempotent(tmp_path: Path) -> None:
    kb = make_kb(tmp_path)
    assert hftkb("fmt", "--kb", str(kb)).returncode == 0
    text = (kb / "papers" / "messy-2024.yaml").read_text()
    assert text == (
        "# yaml-language-server: $schema=_schema.json\n"
        "id: messy-2024\n"
        "title: 'Messy: a record written by hand'\n"
        "date: 2024-01-02\n"
        "kind: defense\n"
        "identifiers:\n"
        "  arxiv: '2402.01109'\n"
        "links:\n"
        "  - kind: paper\n"
        "    url: https://arxiv.org/abs/2402.01109\n"
        "added: 2024-02-01\n"
    )
    again = hftkb("fmt", "--kb", str(kb))
    assert "0 rewritten" in again.stderr and (kb / "papers" / "messy-2024.yaml").read_text() == text
    assert hftkb("fmt", "--check", "--kb", str(kb)).returncode == 0


def test_invalid_record_is_reported_and_left_alone(tmp_path: Path) -> None:
    kb = make_kb(tmp_path)
    bad = "id: bad-2024\ntitle: Bad\ndate: 2024-01-02\nkind: defense\nadded: 2024-02-01\nidentifiers:\n  arxiv: 2310.03690\n"
    (kb / "papers" / "bad-2024.yaml").write_text(bad)
    result = hftkb("fmt", "--kb", str(kb))
    assert result.returncode == 1 and f"{kb}/papers/bad-2024.yaml:7: E205" in result.stdout
    assert (kb / "papers" / "bad-2024.yaml").read_text() == bad
