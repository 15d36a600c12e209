"""`hftkb validate`: check every record, print each problem as `path:line: CODE message`.

Exit 0 with a one-line summary when the knowledge base is clean, 1 when there is any problem.
`--strict` adds the completeness warnings (W601-W603, hftkb.strict), the errors of an `absent:` that contradicts
its record (E604, E605), the source rule of results and relations (E606-E608) and a per-field completeness table, and fails on any of them: CI runs it on papers/. The codes are listed in site/reference/error-codes.md.
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
    parser.add_argument(
        "--strict", action="store_true",
        help="also report incomplete records, summaries copied from the abstract (W6xx) and absent: entries that "
        "contradict the record (E604, E605), results or relations sourced from no table or from a summary site (E606-E608), print the completeness per field, and exit 1 on any of them",
    )


def run(args: argparse.Namespace) -> int:
    from hftkb.validate import load_corpus

    corpus = load_corpus(args.kb)
    warnings = []
    if args.strict:
        from hftkb.strict import check_completeness, check_sources

        warnings = check_completeness(corpus) + check_sources(corpus)
    for problem in sorted(corpus.problems + warnings):
        print(problem.format(args.style))
    counts = f"{len(corpus.papers)} papers, {len(corpus.faq)} FAQ entries, {sum(map(len, corpus.taxonomy.values()))} taxonomy terms"
    if args.strict:
        from hftkb.completeness import completeness
        from hftkb.strict import format_completeness

        print(format_completeness(completeness(list(corpus.papers.values())), len(corpus.papers)))
    name = "hftkb validate --strict" if args.strict else "hftkb validate"
    if corpus.problems or warnings:
        files = len({p.path for p in corpus.problems + warnings})
        found = f"{len(corpus.problems)} problem(s)"  # the wording scripts know, kept for plain `validate`
        if args.strict:
            errors = len(corpus.problems) + sum(p.severity == "error" for p in warnings)  # E604/E605 come from strict
            found = f"{errors} error(s), {sum(p.severity == 'warning' for p in warnings)} completeness warning(s) (W6xx)"
        print(f"{name}: {found} in {files} file(s) ({counts} valid)", file=sys.stderr)
        return 1
    print(f"{name}: ok ({counts})")
    return 0
