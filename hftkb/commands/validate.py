"""`hftkb validate`: check every record, print each problem as `path:line: CODE message`.

Exit 0 with a one-line summary when the knowledge base is clean, 1 when there is any problem.
The codes are listed in site/reference/error-codes.md.
"""

from __future__ import annotations

import argparse
import sys

HELP = "check every paper, FAQ entry and vocabulary; print each problem as path:line: CODE message"

STYLES = ("text", "github")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", choices=STYLES, default="text", dest="style",
        help="text: path:line: CODE message (default); github: GitHub Actions annotations",
    )


def run(args: argparse.Namespace) -> int:
    from hftkb.corpus import load_corpus

    corpus = load_corpus(args.kb)
    for problem in corpus.problems:
        print(problem.format(args.style))
    counts = f"{len(corpus.papers)} papers, {len(corpus.faq)} FAQ entries, {sum(map(len, corpus.taxonomy.values()))} taxonomy terms"
    if corpus.problems:
        files = len({p.path for p in corpus.problems})
        print(f"hftkb validate: {len(corpus.problems)} problem(s) in {files} file(s) ({counts} valid)", file=sys.stderr)
        return 1
    print(f"hftkb validate: ok ({counts})")
    return 0
