"""`hftkb validate --strict`: the completeness warnings (issue 9, "Checks that keep it complete").

The schema (hftkb.models) accepts a record with only an id, a title, a date, a kind and an added date, so that a
paper can enter the knowledge base before it is curated. The rules of a *complete* record are in
hftkb.completeness; this module reports a record that breaks them:

* W601: a field every record needs is missing (and not listed under `absent:`);
* W602: a field a defense or an attack needs is missing;
* W603: the summary shares `MIN_COPIED_WORDS` or more consecutive words with the paper's arXiv abstract, when
  the abstract is at hand: in the arXiv client's cache (hftkb.arxiv_client; `hftkb add` fills it). CI has no
  cache and so no W603; a contributor who ran `hftkb add` has, and `hftkb add --summary` refuses such a
  summary before it writes the record (`check_new_record`).

They are warnings (W...): plain `hftkb validate` does not report them, since an incomplete record is still a
valid one; `--strict` (what CI runs on papers/) reports them and then fails. `--strict` also reports two errors
(E...): an `absent:` entry for a field the record has (E604), or for a name that is no field (E605): the
record contradicts itself, which no curation will fill in.

The source rule of results and relations (issue 23, hftkb.result_checks.source_problems) is checked by `--strict`
too, as errors: a result's `table` that names no place in the paper (E606), a result or relation whose table or
note names a summary or note site (E607), a record that cites the project's design notes (E608).
"""

from __future__ import annotations

from typing import Callable

from hftkb.completeness import EVERY_RECORD, FieldCount, absent_problems, copied_run, missing_fields
from hftkb.corpus import Corpus
from hftkb.models import Paper
from hftkb.problems import Problem
from hftkb.yamlio import Positions


def cached_abstract(paper: Paper) -> str | None:
    """The paper's arXiv abstract from the arXiv client's cache (never the network), or None."""
    from hftkb.arxiv_client import cached_paper

    if paper.identifiers.arxiv is None:
        return None
    answer = cached_paper(paper.identifiers.arxiv)
    return answer.summary if answer is not None and answer.summary else None


def check_record(paper: Paper, positions: Positions, where: str, abstract: str | None = None) -> list[Problem]:
    """The completeness warnings of one record (W601, W602), its `absent:` errors (E604, E605) and, given its
    abstract, a copied summary (W603)."""
    start = positions.line(("id",), key=True)  # the record's first line
    problems = []
    missing = missing_fields(paper)
    general = [f for f in missing if f in EVERY_RECORD]
    specific = [f for f in missing if f not in EVERY_RECORD]
    if general:
        problems.append(Problem(where, start, "W601", f"incomplete record: no {', '.join(general)} (add it, or list it "
                                "under `absent:` with the reason)"))
    if specific:
        problems.append(Problem(where, start, "W602", f"incomplete {paper.kind}: no {', '.join(specific)} (add it, or "
                                "list it under `absent:` with the reason)"))
    for field, code, message in absent_problems(paper):
        line, column = positions.locate(("absent", field), key=True)
        problems.append(Problem(where, line, code, message, column))
    run = copied_run(paper.summary, abstract) if abstract and paper.summary else None
    if run:
        problems.append(Problem(where, positions.line(("summary",), key=True), "W603",
                                f"summary copies {len(run.split())} consecutive words of the arXiv abstract: \"{run}\" "
                                "(write it in your own words)"))
    return problems


def check_new_record(where: str, paper: Paper, abstract: str | None) -> list[Problem]:
    """`check_record` for a record not yet written (`hftkb add`), located in the canonical text it will have."""
    from hftkb.yamlio import dump_record, parse_yaml

    _, positions = parse_yaml(dump_record(paper), where)
    return check_record(paper, positions, where, abstract)


def check_completeness(corpus: Corpus, abstracts: Callable[[Paper], str | None] = cached_abstract) -> list[Problem]:
    """Every completeness warning of the corpus; `abstracts` gives a paper's abstract (default: the cache)."""
    problems: list[Problem] = []
    for paper_id, paper in corpus.papers.items():
        path = corpus.paths[paper_id]
        problems += check_record(paper, corpus.positions[path], str(path), abstracts(paper))
    return problems


def check_sources(corpus: Corpus) -> list[Problem]:
    """The source rule's errors (E606-E608) of every record: see hftkb.result_checks.source_problems."""
    from hftkb.result_checks import source_problems

    return source_problems(corpus)


def format_completeness(counts: list[FieldCount], total: int) -> str:
    """The table `--strict` prints: one line per field."""
    lines = [f"completeness of {total} records (present + marked absent / records the rule applies to):"]
    for count in counts:
        lines.append(f"  {count.field:<17} {count.present:>4} + {count.absent:<3} / {count.applies:<4} {100 * count.share:5.1f}%")
    return "\n".join(lines)
