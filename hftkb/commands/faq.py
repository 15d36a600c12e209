"""`hftkb faq "question"`: answer a reviewer's question from the FAQ, with the papers that back the answer.

Ranking: `hftkb.faq_search` (BM25F with the field's synonyms; offline and deterministic).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap

HELP = "answer a reviewer question from the FAQ (ranked entries with their evidence)"

WIDTH = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("question", nargs="+", help='the question, e.g. "why not filter the harmful data?"')
    parser.add_argument("--top", type=int, default=3, metavar="N", help="how many entries to show (default: 3)")
    parser.add_argument("--json", action="store_true", help="print the ranked entries as JSON, for scripts")
    parser.add_argument(
        "--full", action="store_true", help="print the full answer of every entry shown (default: the best one only)"
    )


def run(args) -> int:
    from pathlib import Path

    from hftkb.validate import load_corpus
    from hftkb.faq_search import FaqIndex

    question = " ".join(args.question).strip()
    if not question:
        print("error: the question is empty", file=sys.stderr)
        return 2
    if args.top < 1:
        print(f"error: --top must be at least 1, not {args.top}", file=sys.stderr)
        return 2

    kb_dir = Path(getattr(args, "kb", None) or ".")
    corpus = load_corpus(kb_dir)
    if not corpus.faq:
        print(f"error: no FAQ entries found in {kb_dir / 'faq'}", file=sys.stderr)
        return 2

    hits = FaqIndex(corpus.faq.values()).search(question, top=args.top)
    if args.json:
        print(json.dumps({"question": question, "results": [_as_json(rank, hit, corpus) for rank, hit in
                                                            enumerate(hits, 1)]}, indent=2, ensure_ascii=False))
    elif hits:
        for rank, hit in enumerate(hits, 1):
            _print_hit(rank, hit, corpus, full=args.full or rank == 1)
    if not hits:
        print(f"no FAQ entry matches {question!r}; try other words, or browse {kb_dir / 'faq'}", file=sys.stderr)
        return 1
    return 0


def _paper_label(corpus, paper_id: str) -> str:
    """'Title (year)' for a paper in the KB; the bare id when the record is missing (validate reports that)."""
    paper = corpus.papers.get(paper_id)
    if paper is None:
        return f"{paper_id} (not in the knowledge base)"
    title = paper.title
    if paper.short_name and not title.lower().startswith(paper.short_name.lower()):
        title = f"{paper.short_name}: {title}"
    name = title
    return f"{name} ({paper.date.year})"


def _as_json(rank: int, hit, corpus) -> dict:
    entry = hit.entry
    return {
        "rank": rank,
        "id": entry.id,
        "score": round(hit.score, 4),
        "matched": hit.matched,
        "question": entry.question,
        "short_answer": entry.short_answer,
        "answer": entry.answer,
        "evidence": [
            {
                "paper": item.paper,
                "title": corpus.papers[item.paper].title if item.paper in corpus.papers else None,
                "shows": item.shows,
            }
            for item in entry.evidence
        ],
        "related": entry.related,
        "tags": entry.tags,
    }


_LIST_ITEM = re.compile(r"^\s*(?:[-*]|\d+\.)\s+")


def _wrap(text: str, indent: str) -> str:
    """Wrap Markdown for the terminal: paragraphs and list items are re-flowed, tables kept as they are."""
    blocks: list[str] = []
    for paragraph in text.strip().split("\n\n"):
        lines = paragraph.replace("**", "").splitlines()
        if lines and lines[0].lstrip().startswith("|"):
            blocks.append("\n".join(indent + line.strip() for line in lines))
            continue
        items: list[str] = []  # a list item continues on the lines indented below it
        for line in lines:
            if not items or _LIST_ITEM.match(line):
                items.append(line.strip())
            else:
                items[-1] += " " + line.strip()
        wrapped = []
        for item in items:
            marker = _LIST_ITEM.match(item)
            hanging = indent + " " * (len(marker.group(0)) if marker else 0)
            wrapped.append(textwrap.fill(item, WIDTH, initial_indent=indent, subsequent_indent=hanging))
        blocks.append("\n".join(wrapped))
    return "\n\n".join(block for block in blocks if block.strip())


def _print_hit(rank: int, hit, corpus, full: bool) -> None:
    entry = hit.entry
    if rank > 1:
        print()
    print(f"{rank}. {entry.question}  [{entry.id}]")
    print(_wrap(entry.short_answer, "   "))
    if full:
        print()
        print(_wrap(entry.answer, "   "))
    print()
    print("   Evidence:")
    for item in entry.evidence:
        print(textwrap.fill(f"- {item.paper}: {_paper_label(corpus, item.paper)}", WIDTH,
                            initial_indent="   ", subsequent_indent="     "))
        print(_wrap(item.shows, "       "))
    if entry.related:
        print(textwrap.fill("Related: " + ", ".join(entry.related), WIDTH, initial_indent="   ",
                            subsequent_indent="     "))
