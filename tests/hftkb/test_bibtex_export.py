"""BibTeX export: entry types, field order, LaTeX escaping, determinism (hftkb/bibtex.py)."""

from __future__ import annotations

import datetime as dt

import bibtexparser
import pytest

from hftkb.bibtex import decode_latex, encode_latex, paper_to_bibtex, papers_to_bibtex, parse_booktitle, booktitle_for
from hftkb.models import Paper

VENUES = {"neurips": "NeurIPS", "acl": "ACL", "tmlr": "Transactions on Machine Learning Research", "arxiv": "arXiv"}


def make_paper(**overrides) -> Paper:
    data = dict(
        id="vaccine-2024",
        title="Vaccine: Perturbation-aware Alignment for Large Language Models against Harmful Fine-tuning",
        authors=["Tiansheng Huang", "Sihao Hu", "Ling Liu"],
        date=dt.date(2024, 2, 2),
        kind="defense",
        added=dt.date(2025, 10, 28),
        identifiers={"arxiv": "2402.01109"},
    )
    data.update(overrides)
    return Paper.model_validate(data)


def test_preprint_is_misc_with_eprint_and_month():
    text = paper_to_bibtex(make_paper())
    assert text == (
        "@misc{vaccine-2024,\n"
        "  author = {Tiansheng Huang and Sihao Hu and Ling Liu},\n"
        "  title = {Vaccine: Perturbation-aware Alignment for Large Language Models against Harmful Fine-tuning},\n"
        "  year = {2024},\n"
        "  month = feb,\n"
        "  eprint = {2402.01109},\n"
        "  archivePrefix = {arXiv},\n"
        "  eprinttype = {arXiv},\n"
        "}\n"
    )


def test_conference_paper_is_inproceedings_with_venue_year_and_display_name():
    paper = make_paper(venue={"name": "neurips", "year": 2024}, links=[{"kind": "paper", "url": "https://x.org/p"}])
    text = paper_to_bibtex(paper, VENUES)
    assert text.startswith("@inproceedings{vaccine-2024,\n")
    assert "  booktitle = {NeurIPS},\n  year = {2024},\n" in text
    assert "month" not in text  # a published paper is cited by its venue's year
    assert text.index("eprint") < text.index("url = {https://x.org/p}")


def test_journal_is_article_and_venue_year_wins_over_date():
    paper = make_paper(date=dt.date(2023, 11, 5), venue={"name": "tmlr", "year": 2025, "track": "journal"})
    text = paper_to_bibtex(paper, VENUES)
    assert text.startswith("@article{vaccine-2024,")
    assert "journal = {Transactions on Machine Learning Research}" in text
    assert "year = {2025}" in text


def test_arxiv_venue_is_misc():
    text = paper_to_bibtex(make_paper(venue={"name": "arxiv", "year": 2024, "track": "preprint"}), VENUES)
    assert text.startswith("@misc{") and "booktitle" not in text


def test_latex_specials_and_accents_are_encoded_and_parse_back():
    title = "Safe & Sound: 50% of $x_1$ {really} ~ ^ \\ via LoRA <script>"
    paper = make_paper(title=title, authors=["José Müller", "Łukasz Ø", "Acme, Inc.", "Simon and Schuster"])
    text = paper_to_bibtex(paper)
    assert "\\&" in text and "\\%" in text and "\\$" in text and "\\_" in text
    assert "{LoRA}" in text  # inner capitals protected from bibliography styles' lowercasing
    assert "<script>" in text  # no HTML escaping in BibTeX: the site escapes when it renders
    library = bibtexparser.parse_string(text)
    assert library.failed_blocks == []
    (entry,) = library.entries
    assert decode_latex(entry["title"]) == title
    assert "{Acme, Inc.}" in entry["author"] and "{Simon and Schuster}" in entry["author"]
    assert decode_latex(entry["author"]).startswith("José Müller and Łukasz Ø")


@pytest.mark.parametrize("text", ["plain", "Ünïcödé ß", "a & b % c # d _ e { f } g ~ h ^ i \\ j", "中文标题"])
def test_encode_decode_inverse(text):
    assert decode_latex(encode_latex(text)) == text


@pytest.mark.parametrize(
    "track,note",
    [("main", None), ("findings", None), ("workshop", None), ("workshop", "SeT LLM"), ("short", None), ("demo", None)],
)
def test_booktitle_roundtrip(track, note):
    assert parse_booktitle(booktitle_for("ICLR", track, note)) == ("ICLR", track, note)


def test_papers_to_bibtex_sorted_and_deterministic():
    papers = [make_paper(id="zeta-2024"), make_paper(id="alpha-2023"), make_paper(id="mid-2024")]
    first = papers_to_bibtex(papers)
    assert first == papers_to_bibtex(list(reversed(papers)))
    keys = [entry.key for entry in bibtexparser.parse_string(first).entries]
    assert keys == ["alpha-2023", "mid-2024", "zeta-2024"]
    assert "}\n\n@misc{mid-2024," in first


def test_openreview_and_acl_ids_give_a_url_when_no_paper_link():
    assert "url = {https://openreview.net/forum?id=tTPHgb0EtV}" in paper_to_bibtex(
        make_paper(identifiers={"openreview": "tTPHgb0EtV"})
    )
    assert "url = {https://aclanthology.org/2024.findings-acl.549}" in paper_to_bibtex(
        make_paper(identifiers={"acl": "2024.findings-acl.549"})
    )


# ---------------------------------------------------------------------------------------------------------
# Entries that can be cited (issue 9): author, title, year, and where the paper can be read


def test_openreview_only_submission_says_where_it_can_be_read():
    paper = make_paper(identifiers={"openreview": "81mxnkcW43"},
                       venue={"name": "neurips", "year": 2026, "track": "submission"})
    entry = bibtexparser.parse_string(paper_to_bibtex(paper, VENUES)).entries[0]
    assert entry.entry_type == "misc" and "eprint" not in entry.fields_dict
    assert entry["howpublished"] == "OpenReview" and entry["note"] == "Submitted to NeurIPS 2026"
    assert entry["url"] == "https://openreview.net/forum?id=81mxnkcW43"
    arxiv = bibtexparser.parse_string(paper_to_bibtex(make_paper(), VENUES)).entries[0]
    assert "howpublished" not in arxiv.fields_dict and arxiv["eprinttype"] == "arXiv"


def _citable_problems(entry, paper) -> list[str]:
    fields = entry.fields_dict
    problems = [name for name in ("title", "year") if not fields.get(name) or not fields[name].value.strip()]
    if paper.authors and not fields.get("author"):
        problems.append("author")
    where = [name for name in ("booktitle", "journal", "eprint") if name in fields]
    if "eprint" in fields and not (fields.get("archivePrefix") and fields.get("eprinttype")):
        problems.append("archivePrefix/eprinttype")
    if not where and not (entry.entry_type == "misc" and paper.identifiers.arxiv is None and "howpublished" in fields):
        problems.append("booktitle/journal/eprint")
    return problems


def test_every_committed_record_exports_a_citable_entry_that_round_trips():
    from pathlib import Path

    from hftkb.bibtex import decode_latex
    from hftkb.validate import load_corpus

    corpus = load_corpus(Path(__file__).resolve().parents[2])
    papers = list(corpus.papers.values())
    text = papers_to_bibtex(papers, corpus.taxonomy["venues"])
    library = bibtexparser.parse_string(text)
    assert library.failed_blocks == [] and len(library.entries) == len(papers)
    by_id = {entry.key: entry for entry in library.entries}
    bad = {p.id: _citable_problems(by_id[p.id], p) for p in papers}
    assert {k: v for k, v in bad.items() if v} == {}
    for paper in papers:  # what the entry says is the record: authors in order, the title, the year
        entry = by_id[paper.id]
        if paper.authors:
            names = [decode_latex(n.strip().strip("{}")) for n in entry["author"].split(" and ")]
            assert names == paper.authors, paper.id
        assert decode_latex(entry["title"]) == paper.title, paper.id
        assert int(entry["year"]) in (paper.date.year, paper.venue.year if paper.venue else None), paper.id


def test_the_citable_check_can_fail():
    entry = bibtexparser.parse_string("@misc{x, title = {T}, year = {2024}}").entries[0]
    assert _citable_problems(entry, make_paper()) == ["author", "booktitle/journal/eprint"]
