"""`hftkb export-bib [-o FILE] [ID ...]`: the knowledge base (or some records) as one BibTeX file.

Deterministic: entries sorted by id, key = record id, fixed field order (hftkb.bibtex), so the output can be
committed, diffed, and read back by `hftkb import-bib` into the same text.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "write the papers as BibTeX (key = record id) to standard output or -o FILE"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="*", metavar="ID", help="only these records (default: every paper)")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="write to FILE instead of standard output")


def run(args: argparse.Namespace) -> int:
    from hftkb.bibtex import papers_to_bibtex
    from hftkb.validate import load_corpus

    corpus = load_corpus(args.kb)
    if not corpus.papers and not (args.kb / "papers").is_dir():
        print(f"error: {args.kb} is not a knowledge base (no papers/ directory); use --kb DIR", file=sys.stderr)
        return 2
    unknown = [paper_id for paper_id in args.ids if paper_id not in corpus.papers]
    if unknown:
        print(f"error: no paper record with id {', '.join(repr(i) for i in unknown)}", file=sys.stderr)
        return 2
    papers = [corpus.papers[i] for i in args.ids] if args.ids else list(corpus.papers.values())
    text = papers_to_bibtex(papers, corpus.taxonomy.get("venues"))
    if corpus.problems:
        # Records that fail validation are not in corpus.papers: say so rather than drop them silently.
        print(f"warning: the knowledge base has {len(corpus.problems)} problem(s) (run `hftkb validate`); invalid records are left out", file=sys.stderr)
    if args.output:
        try:
            args.output.write_text(text, encoding="utf-8")
        except OSError as err:
            print(f"error: cannot write {args.output}: {err.strerror or err}", file=sys.stderr)
            return 2
        print(f"wrote {len(papers)} entries to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
