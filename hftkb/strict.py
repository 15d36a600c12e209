"""Completeness: what `hftkb validate --strict` asks of a record beyond the schema (issue 9, "Complete").

The schema (hftkb.models) accepts a record with only an id, a title, a date, a kind and an added date, so that a
paper can enter the knowledge base before it is curated. A *complete* record has, in addition:

* every record: `authors`, `date`, `summary`, `kind`, `venue`, at least one identifier (`identifiers`) and a
  link of kind `code` (`code`);
* a defense: `stage`; an attack: `attack_type`;
* a defense or an attack: `mechanism`, `needs`, `cost`, `relations` and `results`.

A field the paper cannot have is listed in the record's `absent: {field: reason}` mapping and then counts as
complete (e.g. `absent: {code: "no public code"}`). That the `absent` names are fields of this table, and that
a record does not list a field it has, is checked without --strict (hftkb.checks, E209/E210): it is a
contradiction in the record, not a gap.

The problems found here are warnings (code W6xx): plain `hftkb validate` does not report them, since an
incomplete record is still a valid one; `--strict` (what CI runs on papers/) reports them and then fails.

A summary is written in the project's own words. `copied_run` finds the longest run of words a summary shares
with the paper's abstract; `--strict` reports one of `MIN_COPIED_WORDS` words or more (W603) when the abstract
is at hand, i.e. in the arXiv client's cache (hftkb.arxiv_client, filled by `hftkb add`), and `hftkb add
--summary` refuses such a summary before it writes the record.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Callable

from hftkb.corpus import Corpus
from hftkb.models import Paper
from hftkb.problems import Problem
from hftkb.yamlio import Positions

#: Fields every record needs, in the order they are reported.
EVERY_RECORD = ("authors", "date", "summary", "kind", "venue", "identifiers", "code")
#: Fields by kind: the taxonomy field of the kind, then the method fields of defenses and attacks.
BY_KIND = {"defense": ("stage",), "attack": ("attack_type",)}
METHOD_FIELDS = ("mechanism", "needs", "cost", "relations", "results")
METHOD_KINDS = ("defense", "attack")
#: Every name `absent` may hold.
FIELDS = EVERY_RECORD + ("stage", "attack_type") + METHOD_FIELDS

#: A summary sharing this many consecutive words with the abstract copies it. Twelve: the longest runs an
#: independent two-to-four-sentence summary shares with an abstract are names and set phrases ("harmful
#: fine-tuning attack on large language models" is 7 words), while a copied sentence or clause is longer.
MIN_COPIED_WORDS = 12

_PRESENT: dict[str, Callable[[Paper], bool]] = {
    "identifiers": lambda paper: any(paper.identifiers.model_dump(exclude_none=True).values()),
    "code": lambda paper: any(link.kind == "code" for link in paper.links),
}


def required_fields(paper: Paper) -> tuple[str, ...]:
    """The fields a complete record of this kind has (or marks absent)."""
    fields = EVERY_RECORD + BY_KIND.get(paper.kind, ())
    return fields + METHOD_FIELDS if paper.kind in METHOD_KINDS else fields


def has_field(paper: Paper, field: str) -> bool:
    """Whether the record gives `field`: a value that is not None, an empty text or an empty list."""
    if field in _PRESENT:
        return _PRESENT[field](paper)
    value = getattr(paper, field)
    return value is not None and value != "" and value != []


def missing_fields(paper: Paper) -> list[str]:
    """The required fields the record neither has nor marks absent."""
    return [f for f in required_fields(paper) if f not in paper.absent and not has_field(paper, f)]


def has_baseline(paper: Paper) -> bool:
    """A reported result with the baseline of its table: `baseline` set, or a row of plain SFT (`method: SFT`)."""
    return any(r.baseline is not None or (r.method or "").strip().upper().startswith("SFT") for r in paper.results)


# ---------------------------------------------------------------------------------------------------------
# Copied summaries

_WORD = re.compile(r"\w+(?:[-'.]\w+)*")


def copied_run(summary: str, abstract: str, min_words: int = MIN_COPIED_WORDS) -> str | None:
    """The longest run of `min_words` or more consecutive words the summary shares with the abstract (as the
    summary writes it), or None. Words are compared without case and punctuation."""
    words = _WORD.findall(summary)
    mine = [w.lower() for w in words]
    theirs = [w.lower() for w in _WORD.findall(abstract)]
    match = difflib.SequenceMatcher(None, mine, theirs, autojunk=False).find_longest_match(0, len(mine), 0, len(theirs))
    if match.size < min_words:
        return None
    return " ".join(words[match.a : match.a + match.size])


def cached_abstract(paper: Paper) -> str | None:
    """The paper's arXiv abstract from the arXiv client's cache (never the network), or None."""
    from hftkb.arxiv_client import cached_paper

    if paper.identifiers.arxiv is None:
        return None
    answer = cached_paper(paper.identifiers.arxiv)
    return answer.summary if answer is not None and answer.summary else None


# ---------------------------------------------------------------------------------------------------------
# The checks


def check_record(paper: Paper, positions: Positions, where: str, abstract: str | None = None) -> list[Problem]:
    """The completeness warnings of one record (W601, W602) and, given its abstract, a copied summary (W603)."""
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


@dataclass(frozen=True)
class FieldCount:
    """For one field: records that have it, records that mark it absent, records it applies to."""

    field: str
    present: int
    absent: int
    applies: int

    @property
    def share(self) -> float:
        """Complete (present or marked absent) / applicable, in [0, 1]; 1 when it applies to none."""
        return (self.present + self.absent) / self.applies if self.applies else 1.0


def completeness(papers: list[Paper]) -> list[FieldCount]:
    """Per field of `FIELDS`, how many of `papers` have it; then `results+baseline`: defenses and attacks whose
    results include their baseline (the issue's "at least 80% carry results with their SFT baseline")."""
    counts = []
    for field in FIELDS:
        applicable = [p for p in papers if field in required_fields(p)]
        present = sum(has_field(p, field) for p in applicable)
        absent = sum(field in p.absent and not has_field(p, field) for p in applicable)
        counts.append(FieldCount(field, present, absent, len(applicable)))
    methods = [p for p in papers if p.kind in METHOD_KINDS]
    counts.append(FieldCount("results+baseline", sum(has_baseline(p) for p in methods), 0, len(methods)))
    return counts


def format_completeness(counts: list[FieldCount], total: int) -> str:
    """The table `--strict` prints: one line per field."""
    lines = [f"completeness of {total} records (present + marked absent / records the rule applies to):"]
    for count in counts:
        lines.append(f"  {count.field:<17} {count.present:>4} + {count.absent:<3} / {count.applies:<4} {100 * count.share:5.1f}%")
    return "\n".join(lines)
