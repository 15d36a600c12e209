"""BibTeX booktitles use the full proceedings name (issue 26 item 8), the short name kept in `eventtitle`.

The names come from `proceedings` and `full_name` in taxonomy/venues.yaml; `hftkb import-bib` reads them back.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import bibtexparser
import pytest

from hftkb.bibtex import paper_to_bibtex, papers_to_bibtex, parse_booktitle, venue_of_proceedings
from hftkb.cli import main
from hftkb.models import Paper
from hftkb.validate import load_corpus

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(REPO)


def _paper(**venue) -> Paper:
    return Paper.model_validate({"id": "x-2025", "title": "A Title", "authors": ["Ada Lovelace"], "date": "2024-10-01",
                                 "kind": "defense", "venue": venue, "added": "2025-01-01"}, strict=False)


def _fields(paper: Paper, corpus) -> dict[str, str]:
    entry = bibtexparser.parse_string(paper_to_bibtex(paper, corpus.taxonomy["venues"])).entries[0]
    return {key: field.value for key, field in entry.fields_dict.items()}


@pytest.mark.parametrize("venue,booktitle,eventtitle", [
    ({"name": "iclr", "year": 2025}, "The Thirteenth International Conference on Learning Representations", "ICLR 2025"),
    ({"name": "neurips", "year": 2024}, "Advances in Neural Information Processing Systems 37", "NeurIPS 2024"),
    ({"name": "icml", "year": 2025}, "Proceedings of the 42nd International Conference on Machine Learning", "ICML 2025"),
    ({"name": "acl", "year": 2025},
     "Proceedings of the 63rd Annual Meeting of the Association for Computational Linguistics (Volume 1: Long Papers)", "ACL 2025"),
    ({"name": "acl", "year": 2024, "track": "findings"}, "Findings of the Association for Computational Linguistics: ACL 2024", "ACL 2024"),
    ({"name": "colm", "year": 2024}, "First Conference on Language Modeling", "COLM 2024"),
])
def test_booktitle_is_the_full_proceedings_name(corpus, venue, booktitle, eventtitle):
    fields = _fields(_paper(**venue), corpus)
    assert fields["booktitle"] == booktitle and fields["eventtitle"] == eventtitle


def test_a_year_without_proceedings_uses_the_full_name(corpus):
    fields = _fields(_paper(name="iclr", year=2031), corpus)
    assert fields["booktitle"] == "International Conference on Learning Representations" and fields["eventtitle"] == "ICLR 2031"


def test_journals_use_the_full_name_and_keep_the_short_one(corpus):
    fields = _fields(_paper(name="tmlr", year=2025, track="journal"), corpus)
    assert fields["journal"] == "Transactions on Machine Learning Research" and fields["shortjournal"] == "TMLR"


def test_no_committed_entry_has_a_bare_acronym_booktitle(corpus):
    text = papers_to_bibtex(corpus.papers.values(), corpus.taxonomy["venues"])
    # A short name where the taxonomy knows a longer one (a journal called Nature is its full name).
    short_names = {term.name for term in corpus.taxonomy["venues"].values() if term.full_name or term.proceedings}
    written = re.findall(r"^  (?:booktitle|journal) = \{(.*)\},$", text, flags=re.MULTILINE)
    assert [name for name in written if name in short_names] == []  # was 81 entries such as `booktitle = {ICLR}`
    main_track = [p for p in corpus.papers.values() if p.venue and p.venue.track in ("main", "findings")
                  and p.venue.name not in ("arxiv", "preprint", "technical_report")]
    library = {entry.key: entry for entry in bibtexparser.parse_string(text).entries}
    for paper in main_track:
        entry = library[paper.id]
        if entry.entry_type == "inproceedings":
            assert len(entry["booktitle"]) > 20, (paper.id, entry["booktitle"])


def test_every_proceedings_name_maps_back_to_its_venue(corpus):
    venues = corpus.taxonomy["venues"]
    seen = {}
    for venue_id, term in venues.items():
        for year, name in term.proceedings.items():
            assert venue_of_proceedings(name, venues) == (venue_id, "main"), name
            assert name not in seen, f"{name!r} is given to {seen.get(name)} and {venue_id}"
            seen[name] = venue_id
    assert parse_booktitle("Findings of the Association for Computational Linguistics: EMNLP 2024") == ("EMNLP", "findings", None)


def test_export_import_export_round_trips_with_the_real_taxonomy(tmp_path, corpus, capsys):
    # Records at venues with full names (main, findings, journal, workshop): exported, imported into an empty
    # knowledge base with the same taxonomy, exported again: the same text, so the venue came back exactly.
    chosen = [p for p in corpus.papers.values() if p.venue and p.venue.name in ("iclr", "neurips", "acl", "tmlr", "icml")
              and p.venue.track in ("main", "findings", "journal", "workshop")][:40]
    source = tmp_path / "source"
    shutil.copytree(REPO / "taxonomy", source / "taxonomy")
    (source / "papers").mkdir()
    for paper in chosen:
        shutil.copy(corpus.paths[paper.id], source / "papers")
    first = tmp_path / "first.bib"
    assert main(["export-bib", "--kb", str(source), "-o", str(first)]) == 0
    assert "Findings of the Association for Computational Linguistics: ACL" in first.read_text()
    target = tmp_path / "target"
    shutil.copytree(REPO / "taxonomy", target / "taxonomy")
    (target / "papers").mkdir()
    assert main(["import-bib", "--kb", str(target), str(first), "--kind", "defense"]) == 0, capsys.readouterr().err
    imported = load_corpus(target).papers
    for paper in chosen:
        venue = imported[paper.id].venue
        assert (venue.name, venue.year, venue.track) == (paper.venue.name, paper.venue.year, paper.venue.track), paper.id
    capsys.readouterr()
    assert main(["export-bib", "--kb", str(target)]) == 0
    assert capsys.readouterr().out == first.read_text()


def test_entries_without_authors_are_the_ones_no_source_names(corpus):
    # Issue 26: 7 entries had no author. Each record without authors says why under `absent:` (what was
    # searched), so that `validate --strict` accepts it and a reader of the BibTeX knows it is not an oversight.
    missing = [paper for paper in corpus.papers.values() if not paper.authors]
    assert len(missing) <= 7
    for paper in missing:
        assert len(paper.absent.get("authors", "")) > 20, paper.id
