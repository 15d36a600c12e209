"""`hftkb discover --since 2026-05-01`: papers on arXiv that the knowledge base may be missing, ranked, for triage.

Steps: read the query set (taxonomy/discover.yaml), ask arXiv for each query's papers submitted since the date
(hftkb.arxiv_client.search_arxiv: three seconds between requests, back-off on 429/5xx, each paper cached),
drop the papers the knowledge base has (any identifier, or the same normalised title, as `hftkb add` does) and
those an earlier triage file in discover/ already kept or dropped,
rank the rest by likeness to the records (hftkb.relevance: scikit-learn TF-IDF), and write the triage file
discover/YYYY-MM-DD.yaml (hftkb.triage). The curator marks each candidate keep or drop, then runs
`hftkb add --from-triage discover/YYYY-MM-DD.yaml`.

Every request is made before anything is written: offline or rate-limited, the command prints one line and
writes nothing. It never overwrites a triage file it did not write. Exit 0 when the file was written, 1 when
arXiv could not be asked or a file is in the way, 2 for bad usage or a bad query set.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from dataclasses import dataclass
from pathlib import Path

HELP = "find new arXiv papers for the knowledge base (query set: taxonomy/discover.yaml) and write a triage file"

QUERY_SET = Path("taxonomy") / "discover.yaml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", type=dt.date.fromisoformat, metavar="YYYY-MM-DD",
                        help="papers submitted on or after this date (default: the newest `added` date of the records)")
    parser.add_argument("--out", type=Path, metavar="FILE",
                        help="the triage file to write (default: <kb>/discover/<today>.yaml)")
    parser.add_argument("--max-results", type=int, metavar="N",
                        help="at most N papers per query (default: max_results of the query set)")


@dataclass
class QuerySet:
    categories: list[str]
    queries: list[str]
    max_results: int


class BadQuerySet(ValueError):
    """The query set cannot be used; the message is `path:line: what is wrong`."""


def load_query_set(path: Path) -> QuerySet:
    from hftkb.yamlio import LoadError, load_yaml

    try:
        data, positions = load_yaml(path)
    except LoadError as err:
        raise BadQuerySet(err.problems[0].format()) from None

    def bad(loc: tuple, message: str) -> BadQuerySet:
        return BadQuerySet(f"{path}:{positions.line(loc)}: {message}")

    if not isinstance(data, dict):
        raise bad((), "the query set is a mapping with categories, max_results and queries")
    unknown = sorted(set(data) - {"categories", "queries", "max_results"})
    if unknown:
        raise bad((unknown[0],), f"unknown key {unknown[0]!r} (the query set has categories, max_results and queries)")
    queries, categories = data.get("queries"), data.get("categories", [])
    if not isinstance(queries, list) or not queries:
        raise bad(("queries",), "queries: a non-empty list of query texts")
    for index, query in enumerate(queries):
        if not isinstance(query, str) or not _terms(query):
            raise bad(("queries", index), f"queries[{index}]: a text of words or \"quoted phrases\", not {query!r}")
    if not isinstance(categories, list) or not all(isinstance(c, str) and re.fullmatch(r"[a-z-]+(\.[A-Za-z-]+)?", c) for c in categories):
        raise bad(("categories",), "categories: a list of arXiv categories such as cs.CL")
    max_results = data.get("max_results", 200)
    if not isinstance(max_results, int) or isinstance(max_results, bool) or not 1 <= max_results <= 2000:
        raise bad(("max_results",), f"max_results: a number from 1 to 2000, not {max_results!r}")
    return QuerySet(categories, queries, max_results)


def _terms(query: str) -> list[str]:
    """'"harmful fine-tuning" defense' -> ['harmful fine-tuning', 'defense']."""
    return [phrase or word for phrase, word in re.findall(r'"([^"]+)"|([^\s"]+)', query) if (phrase or word).strip()]


def arxiv_query(query: str, categories: list[str], since: dt.date, until: dt.date) -> str:
    """The API's search_query: every term in the title or abstract, one of the categories, submitted in the window."""
    parts = []
    for term in _terms(query):
        words = " ".join(re.findall(r"[\w]+", term))  # arXiv reads 'fine-tuning' as the phrase 'fine tuning'
        quoted = f'"{words}"' if " " in words else words
        parts.append(f"(ti:{quoted} OR abs:{quoted})")
    if categories:
        parts.append("(" + " OR ".join(f"cat:{category}" for category in categories) + ")")
    parts.append(f"submittedDate:[{since:%Y%m%d}0000 TO {until:%Y%m%d}2359]")
    return " AND ".join(parts)


def run(args: argparse.Namespace) -> int:
    from hftkb.arxiv_client import ArxivUnavailable, new_client, search_arxiv
    from hftkb.importers.staging import DuplicateIndex
    from hftkb.relevance import MissingRanker, rank
    from hftkb.triage import TriageExists, decided_elsewhere, render_triage, write_triage
    from hftkb.validate import load_corpus

    kb = Path(args.kb)
    if not (kb / "papers").is_dir() and not (kb / "taxonomy").is_dir():
        return _fail(f"{kb} is not a knowledge base (no papers/ or taxonomy/ directory); use --kb DIR")
    try:
        query_set = load_query_set(kb / QUERY_SET)
    except BadQuerySet as err:
        return _fail(str(err))
    if args.max_results is not None and not 1 <= args.max_results <= 2000:
        return _fail("--max-results must be from 1 to 2000")
    corpus = load_corpus(kb)
    papers = list(corpus.papers.values())
    today = dt.date.today()
    since = args.since or max((paper.added for paper in papers), default=today - dt.timedelta(days=31))
    if since > today:
        return _fail(f"--since {since} is in the future")
    out = args.out or kb / "discover" / f"{today.isoformat()}.yaml"
    if out.exists() and not out.is_file():
        return _fail(f"{out} is not a file")

    # 1. Every request first: a failure leaves nothing behind.
    found: dict[str, tuple] = {}  # arXiv id -> (paper, the queries that found it)
    client = new_client()
    limit = args.max_results or query_set.max_results
    try:
        for query in query_set.queries:
            for paper in search_arxiv(arxiv_query(query, query_set.categories, since, today), max_results=limit, client=client):
                if paper.published_date < since:
                    continue  # submittedDate can be a later version's date: the record's date is v1's
                found.setdefault(paper.arxiv_id, (paper, []))[1].append(query)
    except ArxivUnavailable as err:
        return _fail(f"{err}; nothing written", 1)

    # 2. What the knowledge base has already, and what a curator decided on in an earlier triage file.
    index = DuplicateIndex(papers)
    decided = decided_elsewhere(kb / "discover", skip=out)
    new, known, triaged = [], 0, 0
    for paper, queries in found.values():
        if index.find(paper.title, {"arxiv": paper.arxiv_id, "doi": paper.doi}):
            known += 1
        elif paper.arxiv_id in decided:
            triaged += 1
        else:
            new.append((paper, queries))

    # 3. Ranked by likeness to the records.
    try:
        rankings = rank([f"{paper.title}. {paper.summary}" for paper, _ in new], papers)
    except MissingRanker as err:
        return _fail(str(err), 2)
    ranked = sorted(zip(new, rankings), key=lambda pair: (-pair[1].score, pair[0][0].arxiv_id))

    candidates = []
    for (paper, queries), ranking in ranked:
        entry = {"arxiv": paper.arxiv_id, "decision": "undecided", "kind": ranking.kind, "stage": ranking.stage,
                 "title": paper.title, "authors": paper.authors, "date": paper.published_date,
                 "score": ranking.score, "similar": [{"id": i, "score": s} for i, s in ranking.similar],
                 "categories": paper.categories, "found_by": queries, "abstract": paper.summary}
        candidates.append({key: value for key, value in entry.items() if value not in (None, [])})
    header = {"generated": today, "since": since, "query_set": QUERY_SET.as_posix(),
              "found": len(found), "already_in_kb": known, "already_triaged": triaged}
    try:
        shown = out.relative_to(kb).as_posix()
    except ValueError:
        shown = str(out)
    comments = [
        f"Written by `hftkb discover` on {today}: arXiv papers submitted since {since} that the knowledge base",
        "does not hold, most like its records first (score: mean TF-IDF similarity to the 3 most similar records).",
        "For each candidate set `decision: keep` or `decision: drop`; for a kept one check `kind` and `stage`",
        "(suggested from the most similar records) and add any of sub_family, attack_type, tags, needs, venue,",
        "short_name, code, summary. Then run:",
        f"  hftkb add --from-triage {shown}",
        "The digest below tells `hftkb discover` the file is untouched (edited files are never overwritten).",
    ]
    try:
        write_triage(out, render_triage(header, candidates, comments))
    except TriageExists as err:
        return _fail(str(err), 1)
    except OSError as err:
        return _fail(f"cannot write {out}: {err.strerror or err}", 1)
    print(f"wrote {out}: {len(candidates)} candidate(s) since {since} ({len(found)} found by "
          f"{len(query_set.queries)} queries, {known} already in the knowledge base, {triaged} kept or dropped before)")
    return 0


def _fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code
