"""The completeness rules (issue 9): which fields a complete record has, as plain functions on one `Paper`.

* every record: `authors`, `date`, `summary`, `kind`, `venue`, at least one identifier (`identifiers`) and a
  link of kind `code` (`code`);
* a defense: `stage`; an attack: `attack_type`;
* a defense or an attack: `mechanism`, `needs`, `cost`, `relations` and `results`.

A field the paper cannot have is listed in the record's `absent: {field: reason}` mapping and then counts as
complete (e.g. `absent: {code: "no public code"}`). `hftkb validate --strict` reports what is missing
(hftkb.strict); the site shows the same figures (hftkb.site.term_pages, and the page of incomplete records);
and `--strict` refuses an `absent:` that names a field the record has, or a name this table does not know
(E604, E605).

A summary is written in the project's own words: `copied_run` finds the longest run of words it shares with
the paper's abstract.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Callable

from hftkb.models import Paper

#: Fields every record needs, in the order they are reported.
EVERY_RECORD = ("authors", "date", "summary", "kind", "venue", "identifiers", "code")
#: Fields by kind: the taxonomy field of the kind, then the method fields of defenses and attacks.
BY_KIND = {"defense": ("stage",), "attack": ("attack_type",)}
METHOD_FIELDS = ("mechanism", "needs", "cost", "relations", "results")
METHOD_KINDS = ("defense", "attack")
#: Every field the rules ask for (the rows of the completeness table).
FIELDS = EVERY_RECORD + ("stage", "attack_type") + METHOD_FIELDS
#: Names `absent` may hold besides FIELDS: no rule asks for them, but a curator may say why they are missing
#: (e.g. `arxiv: no arXiv version`, the paper being in the ACL Anthology only; `sub_family: ...`).
OPTIONAL = ("arxiv", "doi", "openreview", "acl", "sub_family")

#: A summary sharing this many consecutive words with the abstract copies it. Twelve: the longest runs an
#: independent two-to-four-sentence summary shares with an abstract are names and set phrases ("harmful
#: fine-tuning attack on large language models" is 7 words), while a copied sentence or clause is longer.
MIN_COPIED_WORDS = 12

_PRESENT: dict[str, Callable[[Paper], bool]] = {
    "identifiers": lambda paper: any(paper.identifiers.model_dump(exclude_none=True).values()),
    "code": lambda paper: any(link.kind == "code" for link in paper.links),
    **{name: (lambda paper, name=name: getattr(paper.identifiers, name) is not None) for name in ("arxiv", "doi", "openreview", "acl")},
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
    """A reported result with the baseline of its table: `baseline` set, or a row of plain SFT (`method: sft`,
    `sft_lora` or `sft_full`, keys of taxonomy/baselines.yaml)."""
    return any(r.baseline is not None or (r.method or "").strip().lower().startswith("sft") for r in paper.results)


def absent_problems(paper: Paper) -> list[tuple[str, str, str]]:
    """(field, code, message) for each `absent:` name that the record has (E604) or that is not a field it may
    mark absent (E605)."""
    found = []
    for field in paper.absent:
        if field not in FIELDS + OPTIONAL:
            hint = difflib.get_close_matches(field, FIELDS + OPTIONAL, n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else f" (one of: {', '.join(FIELDS + OPTIONAL)})"
            found.append((field, "E605", f"absent.{field}: '{field}' is not a field the record can mark absent{suggestion}"))
        elif has_field(paper, field):
            found.append((field, "E604", f"absent.{field}: the record has {field}, yet lists it as absent: remove one of them"))
    return found


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


# ---------------------------------------------------------------------------------------------------------
# Figures


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


def complete_share(papers: list[Paper]) -> tuple[int, int]:
    """(records with nothing missing, records)."""
    return sum(not missing_fields(p) for p in papers), len(papers)
