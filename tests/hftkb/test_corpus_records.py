"""One test id per committed record: it validates, fmt leaves it unchanged, and nothing in the corpus points at it wrongly."""

from __future__ import annotations

from pathlib import Path

import pytest

from hftkb.validate import load_corpus
from hftkb.models import Paper
from hftkb.yamlio import dump_record, load_yaml

REPO = Path(__file__).resolve().parents[2]
RECORDS = sorted(p for p in (REPO / "papers").glob("*.yaml") if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(REPO)


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.stem)
def test_record(path: Path, corpus) -> None:
    problems = [p.format() for p in corpus.problems if p.path == str(path)]
    assert problems == []
    data, _ = load_yaml(path, REPO)
    paper = Paper.model_validate(data)
    assert paper.id == path.stem
    assert path.read_text(encoding="utf-8") == dump_record(paper), "not canonical: run `hftkb fmt`"


def test_corpus_has_no_problems(corpus) -> None:
    assert [p.format() for p in corpus.problems] == []


def test_reference_defenses_are_curated(corpus) -> None:
    from reference_impl.registry import METHODS

    for method in METHODS.values():
        if method.paper is None:
            continue
        paper = corpus.papers[method.paper]
        assert paper.reference_impl == method.name and paper.identifiers.arxiv == method.arxiv
        assert paper.authors and paper.summary and paper.mechanism and paper.needs and paper.cost and paper.short_name
        assert paper.stage == method.stage


def test_every_dated_entry_of_the_list_is_in_the_kb(corpus) -> None:
    """Issue 2, item 7: each dated entry of the 2025-10-28 list is a record (duplicates merged)."""
    from hftkb.importers.awesome import find_existing, merge_duplicates, parse_awesome

    source = REPO / "tests" / "fixtures" / "awesome" / "awesome-list-2025-10-28.md"  # the snapshot imported
    parsed = parse_awesome(source.read_text(encoding="utf-8"), str(source), corpus.venue_aliases())
    assert parsed.problems == [] and len(parsed.entries) == 139
    entries, _ = merge_duplicates(parsed.entries, str(source))
    missing = [e.title for e in entries if find_existing(corpus, e) is None]
    assert missing == []
