"""New records from importers (`add`, `import-bib`, `sync-awesome`): refuse duplicates, validate, then write.

A record an importer writes must pass `hftkb validate` and `hftkb fmt --check`. So before anything is
written, each new record goes through the very checks validation runs (hftkb.records, hftkb.checks): pydantic on the YAML
that would be written (problems carry the line of that file), then `check_corpus` on the knowledge base with
the new records added (taxonomy terms, duplicates, dates...). Only when that finds nothing is a file written,
in canonical form (hftkb.yamlio.dump_record).

Duplicates are found the way the corpus checks find them (E305, E306): any shared identifier (arXiv, DOI,
OpenReview, ACL; compared case-insensitively) or the same title after `hftkb.ids.normalise_title`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hftkb.ids import normalise_title
from hftkb.models import Paper
from hftkb.problems import Problem

IDENTIFIER_LABELS = {"arxiv": "arXiv id", "doi": "DOI", "openreview": "OpenReview id", "acl": "ACL Anthology id"}


class DuplicateIndex:
    """Which record already holds a given identifier or normalised title."""

    def __init__(self, papers: Iterable[Paper] = ()):
        self.by_identifier: dict[tuple[str, str], str] = {}
        self.by_title: dict[str, str] = {}
        for paper in papers:
            self.add(paper)

    def add(self, paper: Paper) -> None:
        for name, value in paper.identifiers.model_dump(exclude_none=True).items():
            self.by_identifier.setdefault((name, value.lower()), paper.id)
        self.by_title.setdefault(normalise_title(paper.title), paper.id)

    def find_identifier(self, name: str, value: str) -> str | None:
        return self.by_identifier.get((name, value.lower()))

    def find(self, title: str, identifiers: dict[str, str | None]) -> tuple[str, str] | None:
        """(existing id, why) for a paper with this title and these identifiers, or None."""
        for name, value in identifiers.items():
            if value:
                existing = self.find_identifier(name, value)
                if existing:
                    return existing, f"{IDENTIFIER_LABELS.get(name, name)} {value}"
        existing = self.by_title.get(normalise_title(title))
        if existing:
            return existing, "the same title"
        return None


def taken_ids(corpus: Any) -> set[str]:
    """Ids a new record must not get: records that loaded, files that did not, and any file in papers/."""
    taken = set(corpus.papers) | set(corpus.failed_stems)
    papers_dir = Path(corpus.root) / "papers"
    if papers_dir.is_dir():
        taken |= {path.stem for path in papers_dir.glob("*.yaml")}
    return taken


def record_path(corpus: Any, paper_id: str) -> Path:
    return Path(corpus.root) / "papers" / f"{paper_id}.yaml"


def validate_new(corpus: Any, data: dict[str, Any]) -> tuple[Paper | None, list[Problem]]:
    """One new record as plain data -> (Paper, []) or (None, problems located in the file it would become)."""
    from hftkb.records import validate_record
    from hftkb.yamlio import LoadError, dump_data, parse_yaml

    where = str(record_path(corpus, str(data.get("id", "new-record"))))
    try:
        parsed, positions = parse_yaml(dump_data(data), where)
    except LoadError as err:  # cannot happen for data we built, but never write what we cannot read back
        return None, err.problems
    return validate_record(Paper, parsed, positions, where)


def check_new(corpus: Any, papers: list[Paper]) -> list[Problem]:
    """The corpus checks for the knowledge base with `papers` added (or, for an id it has, replaced by the
    new version); only the problems of those records, located in the canonical text they would be written as."""
    from hftkb.checks import check_corpus
    from hftkb.records import validate_record
    from hftkb.yamlio import dump_record, parse_yaml

    new_paths = {paper.id: Path(corpus.paths.get(paper.id) or record_path(corpus, paper.id)) for paper in papers}
    positions = dict(corpus.positions)
    record_problems: list[Problem] = []
    for paper in papers:
        # Read back the exact text that would be written: a record changed with model_copy is not re-validated.
        data, positions[new_paths[paper.id]] = parse_yaml(dump_record(paper), str(new_paths[paper.id]))
        record_problems += validate_record(Paper, data, positions[new_paths[paper.id]], str(new_paths[paper.id]))[1]
    extended = dataclasses.replace(
        corpus,
        papers=dict(sorted({**corpus.papers, **{p.id: p for p in papers}}.items())),
        paths={**corpus.paths, **new_paths},
        positions=positions,
        problems=[],
        _reverse=None,
    )
    wanted = {str(path) for path in new_paths.values()}
    return sorted(record_problems + [p for p in check_corpus(extended) if p.path in wanted])


def write_new(corpus: Any, papers: list[Paper]) -> list[Path]:
    """Write new records canonically; the caller has checked them (`check_new`). Never overwrites a file."""
    from hftkb.yamlio import write_record

    written = []
    for paper in papers:
        path = record_path(corpus, paper.id)
        if path.exists():
            raise FileExistsError(f"{path} already exists")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_record(path, paper)
        written.append(path)
    return written
