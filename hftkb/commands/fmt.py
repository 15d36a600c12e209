"""`hftkb fmt`: rewrite records in their canonical form (idempotent); `--check` only reports.

Canonical form: the model's field order, default values left out, lists indented under their key, long prose
as folded blocks, and the `# yaml-language-server: $schema=_schema.json` line first in papers. Comments other
than that line are not kept: notes belong in the record's fields. A record that does not validate is
reported and left untouched.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "rewrite records canonically (field order, quoting, indentation); --check reports without writing"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", type=Path, help="records to format (default: every papers/*.yaml)")
    parser.add_argument("--faq", action="store_true", help="also format faq/*.yaml (FAQ entries; no schema line)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a record is not canonical")


def run(args: argparse.Namespace) -> int:
    from hftkb.records import validate_record
    from hftkb.models import FaqEntry, Paper
    from hftkb.problems import Problem
    from hftkb.yamlio import LoadError, dump_record, load_yaml, write_record

    files = args.files or sorted(
        p for folder in (("papers", "faq") if args.faq else ("papers",))
        for p in (args.kb / folder).glob("*.yaml") if not p.name.startswith(("_", "."))
    )
    problems: list[Problem] = []
    changed = 0
    for path in files:
        model = FaqEntry if path.parent.name == "faq" else Paper
        try:
            data, positions = load_yaml(path, args.kb)
        except LoadError as err:
            problems += err.problems
            continue
        record, record_problems = validate_record(model, data, positions, str(path))
        if record is None:
            problems += record_problems
            continue
        current = path.read_text(encoding="utf-8")
        canonical = dump_record(record)
        if current == canonical:
            continue
        changed += 1
        if args.check:
            problems.append(Problem(str(path), _first_difference(current, canonical), "E401", "not in canonical format (run `hftkb fmt`)"))
        else:
            write_record(path, record)
            print(f"formatted {path}")
    for problem in sorted(problems):
        print(problem.format())
    if args.check:
        print(f"hftkb fmt --check: {len(files)} file(s), {changed} not canonical", file=sys.stderr)
    else:
        print(f"hftkb fmt: {len(files)} file(s), {changed} rewritten", file=sys.stderr)
    return 1 if problems else 0


def _first_difference(current: str, canonical: str) -> int:
    for number, (a, b) in enumerate(zip(current.splitlines(), canonical.splitlines()), start=1):
        if a != b:
            return number
    return min(len(current.splitlines()), len(canonical.splitlines())) + 1
