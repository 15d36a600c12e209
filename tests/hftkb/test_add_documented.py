"""Every command and option of the contribution tools is documented in CONTRIBUTING.md or README.md
(the datasette habit: a new option without documentation fails here)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from hftkb.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
COMMANDS = ("add", "discover", "import-bib", "export-bib", "sync-awesome", "validate")


def _docs() -> str:
    return "\n".join((REPO / name).read_text(encoding="utf-8") for name in ("CONTRIBUTING.md", "README.md"))


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


@pytest.mark.parametrize("command", COMMANDS)
def test_command_and_every_option_documented(command):
    docs = _docs()
    assert re.search(rf"hftkb {re.escape(command)}\b", docs), f"`hftkb {command}` is not documented"
    for action in _subparser(command)._actions:
        for option in action.option_strings:
            if option in ("-h", "--help"):
                continue
            assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", docs), f"`hftkb {command} {option}` is not documented"


@pytest.mark.parametrize("command", COMMANDS)
def test_choices_documented(command):
    docs = _docs()
    for action in _subparser(command)._actions:
        for choice in action.choices or ():
            assert re.search(rf"\b{re.escape(str(choice))}\b", docs), f"choice {choice!r} of `hftkb {command}` is not documented"


def test_bib_problem_codes_documented():
    from hftkb.importers.bibtex import BIB_CODES

    docs = (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")
    for code in BIB_CODES:
        assert f"| {code} |" in docs, f"{code} is missing from the table in CONTRIBUTING.md"
