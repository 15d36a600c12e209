"""The data model: one pydantic class per kind of record.

Records are plain, strict data: snake_case keys, unknown keys rejected
(`extra="forbid"`), identifiers kept as strings. This module checks each record *alone*; what needs the
whole corpus (unique ids, relation targets, taxonomy terms, duplicates) lives in `hftkb.checks`.

Reverse relations are never written in a record: `hftkb.corpus` computes them.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

# ---------------------------------------------------------------------------------------------------------
# Shared field types

#: Record ids: lowercase ASCII words joined by '-', e.g. ``vaccine-2024``. The file is ``papers/<id>.yaml``.
ID_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
RecordId = Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=80)]

#: A taxonomy term key, e.g. ``fine_tuning`` (checked against taxonomy/*.yaml by the corpus checks).
TermKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:[_-][a-z0-9]+)*$", max_length=60)]

#: New-style arXiv ids (``2402.01109``) and old-style ones (``cs/0112017``); no version suffix.
ARXIV_PATTERN = r"^(?:\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})$"

NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


_HTTP_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", flags=re.IGNORECASE)  # compiled once: checked for every link


def _http_url(value: str) -> str:
    """Links are http(s) only: a `javascript:` or `data:` URL in a record must never reach the site."""
    if not _HTTP_URL.match(value):
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]


class Strict(BaseModel):
    """Base for every record part: unknown keys are errors, values are not coerced between types."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=False, str_strip_whitespace=True)


# ---------------------------------------------------------------------------------------------------------
# Paper record parts


class Identifiers(Strict):
    """Persistent identifiers; at least one of them or a paper link lets a reader find the paper."""

    arxiv: Annotated[str, StringConstraints(pattern=ARXIV_PATTERN)] | None = Field(
        None, description="arXiv id without version, e.g. '2402.01109' (quote it in YAML)."
    )
    doi: Annotated[str, StringConstraints(pattern=r"^10\.\d{4,9}/\S+$")] | None = Field(
        None, description="DOI, e.g. '10.18653/v1/2024.findings-acl.549'."
    )
    openreview: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{6,20}$")] | None = Field(
        None, description="OpenReview forum id, e.g. 'tTPHgb0EtV'."
    )
    acl: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}\.[a-z0-9\-]+\.[0-9]+$|^[A-Z][0-9]{2}-[0-9]{4}$")] | None = (
        Field(None, description="ACL Anthology id, e.g. '2024.findings-acl.549' or '2025.calcs-1.5'.")
    )


LinkKind = Literal["paper", "code", "openreview", "project", "data", "model", "slides", "video", "other"]


class Link(Strict):
    kind: LinkKind = Field(description="What the link points to.")
    url: HttpUrl = Field(description="An http(s) URL.")


class Venue(Strict):
    """Where the paper appeared, normalised through taxonomy/venues.yaml (`name` is a venue key there)."""

    name: TermKey = Field(description="Venue key from taxonomy/venues.yaml, e.g. 'neurips' or 'arxiv'.")
    year: int | None = Field(None, ge=1990, le=2100, description="Year of the venue edition.")
    track: Literal["main", "findings", "workshop", "short", "demo", "journal", "preprint", "submission"] = Field(
        "main", description="Main conference, Findings, a workshop, ... ('submission': under review there, not accepted)."
    )
    note: str | None = Field(None, description="Free text kept from the source, e.g. the workshop's name.")


class Relation(Strict):
    type: TermKey = Field(description="Relation type from taxonomy/relation_types.yaml, e.g. 'extends'.")
    target: RecordId = Field(description="Id of the related paper record.")
    note: str | None = Field(None, description="One line on how the two relate.")


#: Keys of the result vocabularies (taxonomy/models.yaml, tasks.yaml, metrics.yaml, baselines.yaml): like a term
#: key, but a dot may join the words too, since checkpoint names carry versions ("qwen2.5-7b", "llama-3.1-8b").
ResultKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$", max_length=60)]


#: A result field that names a vocabulary key or a record id: any short text here, so that a paper's spelling
#: ('Llama2-7B') reaches the corpus checks, which name the key it stands for (hftkb.result_checks).
VocabularyKey = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]


class Result(Strict):
    """A number a paper reports in one of its tables, with the setting that makes it comparable (issue 25).

    It is filed in the record of the paper whose table it is, also when it belongs to another paper's method
    (a baseline row of a shared table): `method` then names that method's record. The vocabulary keys are checked
    against taxonomy/{models,tasks,metrics,baselines}.yaml by the corpus checks (hftkb.checks).
    """

    method: VocabularyKey | None = Field(
        None, description="Record id of the method the number belongs to (e.g. 'vaccine-2024'), or a key of "
        "taxonomy/baselines.yaml ('sft', 'sft_lora', 'no_finetune', 'non_aligned', ...); omitted: the record's own method."
    )
    metric: VocabularyKey = Field(description="Key of taxonomy/metrics.yaml, e.g. 'harmful_score'.")
    value: float = Field(description="The value as the table reports it, in the metric's unit.")
    model: VocabularyKey = Field(description="Key of taxonomy/models.yaml: one checkpoint, e.g. 'llama-2-7b'.")
    task: VocabularyKey = Field(
        description="Key of taxonomy/tasks.yaml: the user's fine-tuning task, e.g. 'sst2'; 'none' for pure harmful "
        "fine-tuning."
    )
    harmful_ratio: float | None = Field(None, ge=0, le=1, description="Share of harmful samples in the fine-tuning set (0..1).")
    num_samples: int | None = Field(None, ge=1, description="Number of fine-tuning samples.")
    harmful_data: NonEmptyStr | None = Field(None, description="The harmful data set, e.g. 'beavertails'.")
    judge: NonEmptyStr | None = Field(None, description="Who judged harmfulness, e.g. 'beaver-dam-7b', 'gpt-4'.")
    table: NonEmptyStr = Field(
        description="Where in the paper: 'Table 4', 'Figure 2', 'Section 5.2', 'Appendix C', or 'official README'."
    )
    setting: str | None = Field(None, description="The rest of the setting, e.g. 'average over p in {0, 0.05, 0.1}'.")
    baseline: float | None = Field(
        None, description="The plain-SFT (no defense) value of the same metric in the same table and setting, when the "
        "paper gives it: the difference to it is what compares across papers."
    )
    baseline_method: VocabularyKey | None = Field(
        None, description="What `baseline` is when it is not plain SFT: a key of taxonomy/baselines.yaml or a record id."
    )
    note: str | None = Field(None, description="Provenance, e.g. 'read from the LaTeXML copy at <repo>/<path>'.")


class Cost(Strict):
    paid: Literal["once", "per_fine_tune", "per_model", "none"] = Field(
        description="When the defense's overhead is paid: once (alignment), on every fine-tuning request, or per "
        "fine-tuned model (post-fine-tuning)."
    )
    passes_per_step: float | None = Field(None, ge=0, description="Forward+backward passes per optimiser step (SFT = 1).")
    note: str | None = None


class Paper(Strict):
    """One paper: the unit of the knowledge base, stored as papers/<id>.yaml."""

    id: RecordId = Field(description="Stable id, equal to the file stem.")
    title: NonEmptyStr
    short_name: str | None = Field(None, description="The method's short name, e.g. 'Vaccine'.")
    authors: list[NonEmptyStr] = Field(default_factory=list, description="'Given Family' names, in paper order.")
    date: dt.date = Field(description="First public appearance (e.g. the arXiv v1 date).")
    venue: Venue | None = None
    kind: TermKey = Field(description="From taxonomy/kinds.yaml: attack, defense, analysis, benchmark, survey, ...")
    stage: TermKey | None = Field(None, description="From taxonomy/stages.yaml, for defenses above all.")
    sub_family: TermKey | None = Field(None, description="From taxonomy/sub_families.yaml (fine-tuning defenses).")
    attack_type: TermKey | None = Field(None, description="From taxonomy/attack_types.yaml (attacks).")
    tags: list[TermKey] = Field(default_factory=list, description="From taxonomy/tags.yaml.")
    identifiers: Identifiers = Field(default_factory=Identifiers)
    links: list[Link] = Field(default_factory=list)
    summary: str | None = Field(None, description="Two or three sentences in the project's own words.")
    mechanism: str | None = Field(None, description="How the method works, in one paragraph.")
    needs: list[TermKey] = Field(default_factory=list, description="From taxonomy/needs.yaml.")
    cost: Cost | None = None
    relations: list[Relation] = Field(default_factory=list)
    results: list[Result] = Field(default_factory=list)
    reference_impl: TermKey | None = Field(None, description="Name in the reference_impl registry.")
    absent: dict[TermKey, NonEmptyStr] = Field(
        default_factory=dict,
        description="Fields this paper cannot have, each with the reason, e.g. {code: 'no public code'}; "
        "`hftkb validate --strict` accepts them as complete.",
    )
    notes: list[NonEmptyStr] = Field(
        default_factory=list, description="Curation notes: where a fact came from when it is not the arXiv page."
    )
    source: str | None = Field(None, description="Where the record came from, e.g. 'awesome-list 2025-10-28'.")
    added: dt.date = Field(description="When the record entered the knowledge base.")
    updated: dt.date | None = None


# ---------------------------------------------------------------------------------------------------------
# FAQ record (faq/<id>.yaml)


class Evidence(Strict):
    paper: RecordId = Field(description="Id of a paper record in the knowledge base.")
    shows: NonEmptyStr = Field(description="What this paper shows for the question, in one or two sentences.")


class FaqEntry(Strict):
    id: RecordId
    question: NonEmptyStr
    short_answer: NonEmptyStr = Field(description="One or two sentences.")
    answer: NonEmptyStr = Field(description="The full answer, in the project's own words (Markdown).")
    evidence: list[Evidence] = Field(min_length=2, description="At least two papers in the knowledge base.")
    related: list[RecordId] = Field(default_factory=list, description="Ids of related FAQ entries.")
    tags: list[TermKey] = Field(default_factory=list)
    added: dt.date | None = None


# ---------------------------------------------------------------------------------------------------------
# Taxonomy (taxonomy/<vocabulary>.yaml: a list of terms)


class Term(Strict):
    id: TermKey
    name: NonEmptyStr = Field(description="Display name.")
    description: str | None = None
    parent: TermKey | None = Field(None, description="For sub-families: the stage they belong to.")
    aliases: list[str] = Field(default_factory=list, description="Other spellings (venues above all).")
    inverse: str | None = Field(None, description="For relation types: the name of the reverse direction.")
    full_name: str | None = Field(
        None, description="For venues: the full name citations use when the year's proceedings are not listed, "
        "e.g. a journal's title ('Transactions on Machine Learning Research')."
    )
    proceedings: dict[Annotated[str, StringConstraints(pattern=r"^(19|20)[0-9]{2}$")], NonEmptyStr] = Field(
        default_factory=dict,
        description="For venues: year -> the full name of that year's proceedings, the BibTeX booktitle in ACL "
        "Anthology / DBLP style ('The Thirteenth International Conference on Learning Representations').",
    )


VOCABULARIES = ("kinds", "stages", "sub_families", "attack_types", "relation_types", "venues", "tags", "needs")


class ResultTerm(Term):
    """A term of the result vocabularies: a checkpoint, a task, a baseline. `aliases` are the spellings papers
    use ('Llama2-7B'); `source` is where the term is defined (a model card, the data set's page, a paper)."""

    id: ResultKey
    source: str | None = Field(None, description="Where the term is defined: a model card, a data set, a paper.")


class MetricTerm(ResultTerm):
    """A metric: what it measures, which way a defense wants it, its unit and the judge it implies."""

    direction: Literal["lower", "higher"] = Field(description="Which way a defense wants the value to move.")
    unit: Literal["percent", "fraction", "score_1_5", "points"] = Field(
        description="percent (0-100), fraction (0-1), score_1_5 (a judge's 1-5 scale), points (a difference)."
    )
    judge: str | None = Field(None, description="The judge the metric implies, when it implies one.")


#: The vocabularies of `results:` (issue 25): vocabulary -> term model. They are optional files: a knowledge base
#: without results needs none of them, and a missing one is reported only where a result uses it.
RESULT_VOCABULARIES = {"models": ResultTerm, "tasks": ResultTerm, "metrics": MetricTerm, "baselines": ResultTerm}
