"""`hftkb sync-awesome FILE.md [--apply]`: what the companion list has that the knowledge base lacks.

Reports new papers, venues that changed (a preprint now at a conference), new links (code, OpenReview) and
identifiers, and conflicts a curator should look at (hftkb.importers.sync). With --apply, new records are
written and existing ones updated (venue, links, identifiers; `updated` set to today) after the same checks as
`hftkb validate`; nothing is ever deleted. Exit 0 when done, 1 when the list has unreadable lines or a record
would not validate, 2 for bad usage; --check exits 1 when the knowledge base is behind the list.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "compare the companion awesome list with the knowledge base; --apply adds and updates records (never deletes)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE.md", help="a copy of the list's README.md")
    parser.add_argument("--apply", action="store_true", help="write the new records and the updates (never deletes)")
    parser.add_argument("--check", action="store_true", help="exit 1 when the list has papers or changes the knowledge base lacks")


def run(args: argparse.Namespace) -> int:
    from hftkb.validate import load_corpus
    from hftkb.importers.staging import check_new, record_path
    from hftkb.importers.sync import compare, describe_venue
    from hftkb.commands import read_input
    from hftkb.yamlio import write_record

    text = read_input(args.file)
    if text is None:
        return 2
    if not (args.kb / "taxonomy").is_dir():
        print(f"error: {args.kb} is not a knowledge base (no taxonomy/ directory); use --kb DIR", file=sys.stderr)
        return 2
    corpus = load_corpus(args.kb)
    report = compare(corpus, text, str(args.file))
    venues = corpus.taxonomy.get("venues", {})
    where = str(args.file)

    for problem in report.problems:
        print(problem.format(), file=sys.stderr)
    print(f"New in the list ({len(report.new)}):")
    for line, paper in report.new:
        print(f"  {where}:{line}: {paper.title} [{describe_venue(paper.venue, venues)}] -> papers/{paper.id}.yaml")
    print(f"Changed in the list ({sum(1 for c in report.changed if c.differences)}):")
    for change in report.changed:
        if change.differences:
            print(f"  {where}:{change.list_line}: {change.paper_id}")
            for difference in change.differences:
                print(f"    {difference}")
    conflicts = [c for c in report.changed if c.conflicts]
    if conflicts:
        print(f"To check by hand ({len(conflicts)}):")
        for change in conflicts:
            print(f"  {where}:{change.list_line}: {change.paper_id}")
            for conflict in change.conflicts:
                print(f"    {conflict}")
    if report.only_in_kb:
        print(f"In the knowledge base from the list, but no longer in it (kept; {len(report.only_in_kb)}): {', '.join(report.only_in_kb)}")
    print(f"Unchanged: {report.unchanged}")

    status = 1 if report.problems else 0
    if args.apply:
        new = [paper for _, paper in report.new]
        updated = [change.updated for change in report.changed if change.updated is not None and change.differences]
        problems = check_new(corpus, new + updated)
        refused = {problem.path for problem in problems}
        for problem in problems:
            print(problem.format(), file=sys.stderr)
        written = 0
        for paper in new + updated:
            path = Path(corpus.paths.get(paper.id) or record_path(corpus, paper.id))
            if str(path) in refused:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            write_record(path, paper)
            written += 1
        print(f"applied: wrote {written} record(s) ({len(new)} new, {len(updated)} updated); {len(refused)} refused")
        if refused:
            status = 1
    elif args.check and not report.in_sync:
        status = 1
    return status
