"""`hftkb stats`: the knowledge base in figures (records by kind, completeness per field), as Markdown.

The README's counts are this command's output between `<!-- counts:kb -->` markers; `--write README.md` rewrites
that block and a test checks the committed README is current, so the figures are never typed by hand.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

HELP = "records by kind and completeness per field, as Markdown; --write FILE updates its counts:kb block"

START, END = "<!-- counts:kb -->", "<!-- /counts:kb -->"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--write", metavar="FILE", type=Path, help="replace the block between the counts:kb markers")


def counts_markdown(papers) -> str:
    """The Markdown block: one line of counts by kind, then a table of the completeness figures."""
    from hftkb.completeness import completeness

    kinds = Counter(p.kind for p in papers)
    by_kind = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
    lines = [f"{len(papers)} papers: {by_kind}.", "",
             "| field | present | marked absent (with a reason) | records it applies to | present |",
             "|---|--:|--:|--:|--:|"]
    for count in completeness(papers):
        share = 100 * count.present / count.applies if count.applies else 100.0
        lines.append(f"| {count.field} | {count.present} | {count.absent} | {count.applies} | {share:.0f}% |")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    from hftkb.validate import load_corpus

    corpus = load_corpus(args.kb)
    if corpus.problems:
        print(f"hftkb stats: the knowledge base has {len(corpus.problems)} problem(s); run `hftkb validate`", file=sys.stderr)
        return 1
    block = counts_markdown(list(corpus.papers.values()))
    if not args.write:
        print(block, end="")
        return 0
    text = args.write.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"{args.write}:1: no {START} ... {END} block to replace", file=sys.stderr)
        return 1
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    args.write.write_text(f"{head}{START}\n{block}{END}{tail}", encoding="utf-8")
    print(f"hftkb stats: wrote the counts into {args.write}", file=sys.stderr)
    return 0
