"""`hftkb import-bib refs.bib --kind defense`: new paper records from a BibTeX file.

Every entry that can become a valid record is written (papers/<id>.yaml, canonical form); every other one is
reported with its line in the .bib file: blocks bibtexparser could not parse, repeated keys, entries without a
title, year or kind, and records that would fail `hftkb validate` (the same checks run before writing).
Papers already in the knowledge base (same arXiv/DOI/OpenReview/ACL id or normalised title) are skipped.
Exit 0 when every entry was imported or skipped as present, 1 when any was refused, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "import papers from a BibTeX file (bad entries are reported with their line; good ones are written)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bibfile", type=Path, metavar="FILE.bib", help="the BibTeX file to read ('-' for standard input)")
    parser.add_argument("--kind", help="kind for every entry (taxonomy/kinds.yaml); default: a kind named in the entry's keywords")
    parser.add_argument("--stage", help="stage for every entry (taxonomy/stages.yaml); default: a stage named in keywords")
    parser.add_argument("--tag", action="append", default=[], metavar="TAG", help="a tag for every entry (repeatable)")
    parser.add_argument("--dry-run", action="store_true", help="report what would be written; write nothing")


def run(args: argparse.Namespace) -> int:
    from hftkb.validate import load_corpus
    from hftkb.importers.bibtex import bib_record, parse_bib
    from hftkb.importers.staging import DuplicateIndex, check_new, record_path, taken_ids, validate_new, write_new
    from hftkb.problems import Problem

    if str(args.bibfile) == "-":
        text, where = sys.stdin.read(), "<stdin>"
    else:
        where = str(args.bibfile)
        try:
            text = args.bibfile.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            print(f"error: {where}: no such file", file=sys.stderr)
            return 2
        except (OSError, UnicodeDecodeError) as err:
            print(f"error: {where}: cannot read it as UTF-8 text ({type(err).__name__})", file=sys.stderr)
            return 2
    if not (args.kb / "taxonomy").is_dir():
        print(f"error: {args.kb} is not a knowledge base (no taxonomy/ directory); use --kb DIR", file=sys.stderr)
        return 2

    corpus = load_corpus(args.kb)
    entries, problems = parse_bib(text, where)
    known = DuplicateIndex(corpus.papers.values())
    in_file = DuplicateIndex()
    taken = taken_ids(corpus)
    accepted, skipped, notes = [], [], []
    for entry in entries:
        record, entry_problems = bib_record(entry, corpus, taken, where, kind=args.kind, stage=args.stage, tags=args.tag)
        if record is None:
            problems += entry_problems
            continue
        data = record.data
        identifiers = data.get("identifiers", {})
        existing = known.find(data["title"], identifiers)
        if existing:
            skipped.append(f"{where}:{record.line}: B106 {entry.key}: already in the knowledge base as '{existing[0]}' ({existing[1]}); skipped")
            continue
        twin = in_file.find(data["title"], identifiers)
        if twin:
            problems.append(Problem(where, record.line, "B107", f"{entry.key}: same paper as '{twin[0]}' earlier in the file ({twin[1]}); skipped"))
            continue
        paper, found = validate_new(corpus, data)
        if found:
            # Say it at the entry's line in the .bib file: that is what the contributor edits.
            problems += [Problem(where, record.line, p.code, f"{entry.key}: {p.message}") for p in found]
            continue
        taken.add(paper.id)
        in_file.add(paper)
        accepted.append((paper, record, entry.key))

    # The corpus checks once for all new records (duplicates among them were refused above).
    found_by_path: dict[str, list] = {}
    for problem in check_new(corpus, [paper for paper, _, _ in accepted]):
        found_by_path.setdefault(problem.path, []).append(problem)
    checked = []
    for paper, record, key in accepted:
        found = found_by_path.get(str(record_path(corpus, paper.id)), [])
        if found:
            problems += [Problem(where, record.line, p.code, f"{key}: {p.message}") for p in found]
            continue
        checked.append(paper)
        notes += [f"{where}:{record.line}: note: {key}: {note}" for note in record.notes]
    accepted = checked

    for line in sorted(problems):
        print(line.format(), file=sys.stderr)
    for line in skipped + notes:
        print(line, file=sys.stderr)
    if args.dry_run:
        for paper in accepted:
            print(f"would write papers/{paper.id}.yaml: {paper.title}")
    else:
        for path in write_new(corpus, accepted):
            print(f"wrote {path}")
    verb = "would import" if args.dry_run else "imported"
    refused = len({(p.path, p.line) for p in problems})
    print(f"import-bib: {verb} {len(accepted)}, skipped {len(skipped)} already present, {refused} entries or blocks refused", file=sys.stderr)
    return 1 if problems else 0
