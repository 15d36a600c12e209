"""`hftkb import-awesome FILE.md`: import the companion list's entries as paper records.

New papers become papers/<id>.yaml; papers already in the knowledge base only gain the links and identifiers
they lack (curated fields are never overwritten), so running it twice on the same file changes nothing.
Entries the parser cannot read are reported as `FILE:line: CODE message` and make the exit status 1; the
readable entries are still imported (use --dry-run to see the plan first).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from pathlib import Path

HELP = "import the entries of the companion awesome list (Markdown) as paper records"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="the list's README.md (e.g. a saved copy)")
    parser.add_argument("--dry-run", action="store_true", help="report what would change; write nothing")
    parser.add_argument(
        "--source", default=None,
        help="value of the records' `source` field (default: 'awesome-list <date>', the date from the list's "
        "'last update' line or from the file name)",
    )
    parser.add_argument("--added", type=dt.date.fromisoformat, default=None, help="date for `added` (default: today)")


def run(args: argparse.Namespace) -> int:
    from hftkb.corpus import read_corpus
    from hftkb.importers.awesome import merge_duplicates, parse_awesome, plan_import
    from hftkb.commands import read_input
    from hftkb.yamlio import write_record

    text = read_input(args.file)
    if text is None:
        return 1
    corpus = read_corpus(args.kb)  # the records alone: the cross-record checks are not needed here
    # Records are only written into a knowledge base whose vocabularies load: venues, kinds and stages come from them.
    taxonomy_problems = [p for p in corpus.problems if "taxonomy" in Path(p.path).parts or p.path == str(args.kb)]
    if taxonomy_problems or "venues" not in corpus.taxonomy:
        for problem in taxonomy_problems:
            print(problem.format(), file=sys.stderr)
        print(f"error: {args.kb} is not a knowledge base with a valid taxonomy/ (run `hftkb validate`)", file=sys.stderr)
        return 1

    parsed = parse_awesome(text, str(args.file), corpus.venue_aliases())
    entries, merge_problems = merge_duplicates(parsed.entries, str(args.file))
    problems = sorted(parsed.problems + merge_problems)
    source = args.source or f"awesome-list {_list_date(parsed.list_date, args.file)}"
    plan = plan_import(corpus, entries, source, args.added or dt.date.today())

    papers_dir = Path(args.kb) / "papers"
    if not args.dry_run:
        papers_dir.mkdir(parents=True, exist_ok=True)
        for paper in plan.new:
            write_record(papers_dir / f"{paper.id}.yaml", paper)
        for paper in plan.updated:
            write_record(corpus.paths[paper.id], paper)

    for problem in problems:
        print(problem.format())
    verb = "would add" if args.dry_run else "added"
    duplicates = len(parsed.entries) - len(entries)
    print(
        f"hftkb import-awesome: {len(parsed.entries)} entries ({duplicates} duplicate(s) merged): {verb} "
        f"{len(plan.new)} record(s), {'would update' if args.dry_run else 'updated'} {len(plan.updated)}, "
        f"{len(plan.unchanged)} unchanged; {len(problems)} problem(s)",
        file=sys.stderr,
    )
    return 1 if problems else 0


def _list_date(found: dt.date | None, path: Path) -> str:
    if found is not None:
        return found.isoformat()
    m = re.search(r"(\d{4}-\d{2}-\d{2})", path.name)
    return m.group(1) if m else dt.date.today().isoformat()
