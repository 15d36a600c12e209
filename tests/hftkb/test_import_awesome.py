"""The companion-list importer on every tricky line shape (tests/fixtures/awesome/tricky.md), and the CLI."""

from __future__ import annotations

import datetime as dt
import io
import shutil
from contextlib import redirect_stderr, redirect_stdout
from types import SimpleNamespace
from pathlib import Path

import pytest

from hftkb.cli import main
from hftkb.corpus import read_corpus
from hftkb.validate import load_corpus
from hftkb.importers.awesome import link_kind, merge_duplicates, normalise_venue, parse_awesome, url_identifiers

REPO = Path(__file__).resolve().parents[2]
TRICKY = REPO / "tests" / "fixtures" / "awesome" / "tricky.md"
TEXT = TRICKY.read_text(encoding="utf-8")


def line_of(fragment: str) -> int:
    return next(n for n, line in enumerate(TEXT.splitlines(), 1) if fragment in line)


@pytest.fixture(scope="module")
def venues() -> dict[str, str]:
    kb = read_corpus(REPO)
    return kb.venue_aliases()


@pytest.fixture(scope="module")
def parsed(venues):
    return parse_awesome(TEXT, "tricky.md", venues)


def entry(parsed, title_start: str):
    matches = [e for e in parsed.entries if e.title.startswith(title_start)]
    assert matches, f"no entry titled {title_start!r}"
    return matches[0]


def test_list_date_from_header(parsed) -> None:
    assert parsed.list_date == dt.date(2025, 10, 28)


def test_plain_entry_with_unpadded_date(parsed) -> None:
    shadow = entry(parsed, "Shadow Alignment")
    assert shadow.date == dt.date(2023, 10, 4)
    assert (shadow.kind, shadow.stage) == ("attack", None)
    assert shadow.identifiers == {"arxiv": "2310.02949"}
    assert [(l.kind, l.url) for l in shadow.links] == [
        ("paper", "https://arxiv.org/abs/2310.02949"), ("code", "https://github.com/BeyonderXX/ShadowAlignment")]
    assert shadow.venue.name == "arxiv" and shadow.venue.track == "preprint"


def test_findings_venue_and_acl_id(parsed) -> None:
    paper = entry(parsed, "On the Vulnerability")
    assert (paper.venue.name, paper.venue.year, paper.venue.track) == ("acl", 2024, "findings")
    assert paper.identifiers == {"acl": "2024.findings-acl.549"}
    assert "open_weight" in paper.tags


def test_venue_wrapped_onto_next_line(parsed) -> None:
    paper = entry(parsed, "Fundamental Limitations")
    assert paper.venue.name == "arxiv" and paper.identifiers == {"arxiv": "2502.14828"}
    assert paper.lines == [line_of("Fundamental Limitations")]


def test_submission_venue_and_openreview_id(parsed) -> None:
    paper = entry(parsed, "TrojanPraise")
    assert (paper.venue.name, paper.venue.year, paper.venue.track) == ("iclr", 2026, "submission")
    assert paper.identifiers == {"openreview": "ZcxSBLmQm4"}


def test_short_year_and_special_track(parsed) -> None:
    venue = entry(parsed, "Scaling Trends").venue
    assert (venue.name, venue.year, venue.note) == ("aaai", 2025, "AAAI25-AIA")


def test_year_typo_is_read_as_intended(parsed) -> None:
    venue = entry(parsed, "Safety Subspaces are Not Distinct").venue
    assert (venue.name, venue.year, venue.track) == ("iclr", 2026, "submission")


def test_second_bracket_style_and_label_typo(parsed) -> None:
    tar = entry(parsed, "Tamper-Resistant")
    assert tar.identifiers == {"openreview": "4FIjRodbW6", "arxiv": "2408.00761"}
    assert [l.kind for l in tar.links] == ["openreview", "paper", "code"]
    deep = entry(parsed, "Safety alignment should be made")
    assert [l.kind for l in deep.links] == ["paper", "openreview"]  # "Openriew"
    bfpo = entry(parsed, "Bi-Factorial")
    assert bfpo.identifiers == {"openreview": "GjM61KRiTG", "arxiv": "2408.15313"}  # [[paper]](url)


def test_missing_closing_parenthesis(parsed) -> None:
    paper = entry(parsed, "LookAhead Tuning")
    assert [l.url for l in paper.links] == ["https://arxiv.org/pdf/2503.19041", "https://github.com/zjunlp/LookAheadTuning"]
    assert paper.identifiers == {"arxiv": "2503.19041"}


def test_sections_give_kind_stage_and_tags(parsed) -> None:
    assert (entry(parsed, "Vaccine").kind, entry(parsed, "Vaccine").stage) == ("defense", "alignment")
    assert entry(parsed, "Safety alignment should").stage == "fine_tuning"
    assert entry(parsed, "Safe Delta").stage == "post_fine_tuning"
    assert entry(parsed, "Safety Subspaces").kind == "analysis"
    assert entry(parsed, "SafeTuneBed").kind == "benchmark"
    peft = entry(parsed, "PEFT-as-an-Attack")
    assert (peft.kind, "federated" in peft.tags, "lora" in peft.tags) == ("attack", True, True)
    assert "diffusion" in entry(parsed, "Leveraging Catastrophic").tags
    # The fine-tuning section names no sub-family: the importer leaves it to curators.
    assert not hasattr(entry(parsed, "Safety alignment should"), "sub_family")


def test_undated_links_outside_paper_sections_are_not_entries(parsed) -> None:
    assert all("Awesome LLM-Safety" not in e.title for e in parsed.entries)


def test_unreadable_lines_are_reported_with_their_line(parsed) -> None:
    reported = {(p.line, p.code) for p in parsed.problems}
    assert (line_of("impossible date"), "E501") in reported
    assert (line_of("without a bold title"), "E501") in reported
    assert (line_of("without any link"), "E501") in reported
    assert (line_of("unheard-of venue"), "E502") in reported
    assert (line_of("strange link label"), "E503") in reported
    assert (line_of("script link"), "E501") in reported
    titles = {e.title for e in parsed.entries}
    assert "A paper at an unheard-of venue" in titles  # imported, without a venue
    assert "A line with an impossible date" not in titles and "A paper with a script link" not in titles


def test_duplicates_merge_and_keep_every_link(parsed) -> None:
    merged, problems = merge_duplicates(parsed.entries, "tricky.md")
    assert len(merged) == len(parsed.entries) - 3
    delta = [e for e in merged if e.title.startswith("Safe Delta")]
    assert len(delta) == 1 and delta[0].date == dt.date(2025, 5, 17) and len(delta[0].links) == 2
    detecting = [e for e in merged if e.title.startswith("Detecting Instruction")]
    assert len(detecting) == 1
    assert detecting[0].identifiers == {"arxiv": "2504.09026", "openreview": "KMFotFeGjJ"}
    assert len(detecting[0].links) == 3 and detecting[0].venue.name == "iclr"  # a real venue beats arXiv
    assert detecting[0].date == dt.date(2025, 4, 12)
    twice = line_of("arxiv.org/pdf/2508.09191")
    assert [(p.line, p.code) for p in problems] == [(twice, "E504")]


@pytest.mark.parametrize("label,kind", [("paper", "paper"), ("Openreview", "openreview"), ("Openriew", "openreview"),
                                        ("repo", "code"), ("Code", "code"), ("zzz", None)])
def test_link_labels(label: str, kind: str | None) -> None:
    assert link_kind(label) == kind


def test_url_identifiers() -> None:
    assert url_identifiers("https://www.arxiv.org/abs/2505.16559") == {"arxiv": "2505.16559"}
    assert url_identifiers("https://arxiv.org/pdf/2506.07356v1") == {"arxiv": "2506.07356"}
    assert url_identifiers("https://aclanthology.org/2024.naacl-short.59/") == {"acl": "2024.naacl-short.59"}
    assert url_identifiers("https://aclanthology.org/2025.calcs-1.5.pdf") == {"acl": "2025.calcs-1.5"}
    assert url_identifiers("https://example.org/paper.pdf") == {}


def test_venue_normalisation(venues) -> None:
    assert normalise_venue("SeT LLM workshop@ ICLR 2024", venues).model_dump() == {
        "name": "iclr", "year": 2024, "track": "workshop", "note": "SeT LLM workshop@ ICLR 2024"}
    assert normalise_venue("S&P2025", venues).name == "sp"
    assert normalise_venue("NAACL2024", venues).name == "naacl"  # not ACL
    assert normalise_venue("TMLR", venues).track == "journal"
    assert normalise_venue("FooConf2024", venues) is None
    # Spellings match regardless of punctuation between their letters, as venue_key compares them.
    assert normalise_venue("N.A.A.C.L. 2024", venues).model_dump() == {"name": "naacl", "year": 2024, "track": "main", "note": None}
    assert normalise_venue("Findings of ACL, 2024", venues).model_dump()["track"] == "findings"
    assert normalise_venue("Knowledge-Based Systems", venues).name == "kbs"
    assert normalise_venue("E.M.N.L.P./2024", venues).name == "emnlp"
    assert normalise_venue("a clue", venues) is None  # no venue hides across a space inside words


def test_every_known_venue_reads_with_its_year_glued_on(venues) -> None:
    """'ICASSP2026' and 'ICASSP26' (the 2026-05-18 list): any known venue followed directly by a four- or
    two-digit year is that venue and that year, for every venue of the taxonomy, not only the ones seen so far."""
    terms = [t for t in read_corpus(REPO).taxonomy["venues"].values() if t.id not in ("arxiv", "preprint")]
    assert len(terms) > 20
    assert (normalise_venue("ICASSP26", venues).name, normalise_venue("ICASSP2026", venues).year) == ("icassp", 2026)
    for term in terms:
        for label, year in ((f"{term.name}2026", 2026), (f"{term.name}26", 2026), (f"{term.name} 2024", 2024)):
            venue = normalise_venue(label, venues)
            assert venue is not None and (venue.name, venue.year) == (term.id, year), label


# ---------------------------------------------------------------------------------------------------------
# The command


def make_kb(root: Path) -> Path:
    shutil.copytree(REPO / "taxonomy", root / "taxonomy")
    return root


def hftkb(*args: str) -> SimpleNamespace:
    """Run the CLI in-process (fast); returns returncode, stdout and stderr like subprocess.run."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def run_import(kb: Path, *extra: str) -> SimpleNamespace:
    return hftkb("import-awesome", str(TRICKY), "--kb", str(kb), "--added", "2026-01-01", *extra)


def test_import_writes_valid_records_and_rerun_changes_nothing(tmp_path: Path) -> None:
    kb = make_kb(tmp_path)
    first = run_import(kb)
    assert first.returncode == 1  # the fabricated bad lines are reported
    assert f"{TRICKY}:{line_of('without any link')}: E501" in first.stdout
    files = sorted((kb / "papers").glob("*.yaml"))
    assert len(files) == 19  # 26 dated lines - 4 unreadable - 3 duplicates merged
    corpus = load_corpus(kb)
    assert corpus.problems == [] and len(corpus.papers) == 19
    vaccine = corpus.papers["vaccine-2024"]
    assert vaccine.source == "awesome-list 2025-10-28" and vaccine.added == dt.date(2026, 1, 1)
    before = {p.name: p.read_text() for p in files}
    second = run_import(kb)
    assert "added 0 record(s), updated 0, 19 unchanged" in second.stderr
    assert {p.name: p.read_text() for p in sorted((kb / "papers").glob("*.yaml"))} == before


def test_import_keeps_curated_fields_and_adds_missing_links(tmp_path: Path) -> None:
    kb = make_kb(tmp_path)
    (kb / "papers").mkdir()
    (kb / "papers" / "my-vaccine.yaml").write_text(
        "id: my-vaccine\ntitle: Vaccine (curated title)\nshort_name: Vaccine\ndate: 2024-02-02\nkind: defense\n"
        "stage: alignment\nidentifiers:\n  arxiv: '2402.01109'\nsummary: Curated.\nadded: 2025-01-01\n"
    )
    run_import(kb)
    vaccine = load_corpus(kb).papers["my-vaccine"]
    assert vaccine.title == "Vaccine (curated title)" and vaccine.summary == "Curated."
    assert [l.url for l in vaccine.links] == ["https://arxiv.org/abs/2402.01109", "https://github.com/git-disl/Vaccine"]
    assert not (kb / "papers" / "vaccine-2024.yaml").exists()


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    kb = make_kb(tmp_path)
    result = run_import(kb, "--dry-run")
    assert "would add 19 record(s)" in result.stderr
    assert not (kb / "papers").exists() or not list((kb / "papers").iterdir())


def test_missing_file_is_one_line_error(tmp_path: Path) -> None:
    kb = make_kb(tmp_path)
    result = hftkb("import-awesome", str(tmp_path / "nope.md"), "--kb", str(kb))
    assert result.returncode == 1 and "E101" in result.stderr and "Traceback" not in result.stderr


def test_import_into_a_directory_without_taxonomy_writes_nothing(tmp_path: Path) -> None:
    result = run_import(tmp_path)
    assert result.returncode == 1 and "E315" in result.stderr and "is not a knowledge base" in result.stderr
    assert not (tmp_path / "papers").exists()
