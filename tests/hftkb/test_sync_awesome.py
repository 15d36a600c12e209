"""`hftkb sync-awesome`: the difference between two versions of the companion list (tests/fixtures/sync),
applied without deleting anything, and records that still validate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hftkb.cli import main
from hftkb.validate import load_corpus
from hftkb.importers.sync import url_key
from hftkb.yamlio import dump_record

REPO = Path(__file__).resolve().parents[2]
SYNC = REPO / "tests" / "fixtures" / "sync"
OLD, NEW = SYNC / "awesome-2025-06-01.md", SYNC / "awesome-2025-10-28.md"


@pytest.fixture
def kb(tmp_path, capsys):
    """A knowledge base imported from the older list (with the project's vocabularies)."""
    root = tmp_path / "kb"
    shutil.copytree(REPO / "taxonomy", root / "taxonomy")
    (root / "papers").mkdir()
    assert main(["import-awesome", "--kb", str(root), str(OLD)]) == 0
    capsys.readouterr()
    return root


def test_report_lists_new_changed_and_kept(kb, capsys):
    before = {p.name: p.read_text(encoding="utf-8") for p in (kb / "papers").iterdir()}
    assert main(["sync-awesome", "--kb", str(kb), str(NEW)]) == 0
    out = capsys.readouterr().out
    assert "New in the list (1):" in out
    assert f"{NEW}:19: Targeted Vaccine: Safety Alignment" in out and "-> papers/targeted-vaccine-2024.yaml" in out
    assert "Changed in the list (2):" in out
    assert f"{NEW}:17: vaccine-2024\n    venue: arXiv -> NeurIPS 2024\n    new code link: https://github.com/git-disl/Vaccine\n" in out
    assert "venue: arXiv -> NeurIPS 2024 (workshop)" in out  # the toxicity paper, now at a workshop
    assert "no longer in it (kept; 1): shadow-alignment-2023" in out
    assert "Unchanged: 2" in out
    # A report writes nothing.
    assert {p.name: p.read_text(encoding="utf-8") for p in (kb / "papers").iterdir()} == before


def test_check_exits_1_when_behind(kb, capsys):
    assert main(["sync-awesome", "--kb", str(kb), str(NEW), "--check"]) == 1
    assert main(["sync-awesome", "--kb", str(kb), str(OLD), "--check"]) == 0
    assert "New in the list (0):\nChanged in the list (0):" in capsys.readouterr().out


def test_apply_adds_and_updates_never_deletes(kb, capsys):
    assert main(["sync-awesome", "--kb", str(kb), str(NEW), "--apply"]) == 0
    assert "applied: wrote 3 record(s) (1 new, 2 updated); 0 refused" in capsys.readouterr().out
    corpus = load_corpus(kb)
    assert corpus.problems == []
    assert "shadow-alignment-2023" in corpus.papers  # dropped from the list, kept in the knowledge base
    vaccine = corpus.papers["vaccine-2024"]
    assert (vaccine.venue.name, vaccine.venue.year, vaccine.venue.track) == ("neurips", 2024, "main")
    assert [link.kind for link in vaccine.links] == ["paper", "code"] and vaccine.updated is not None
    toxicity = next(p for p in corpus.papers.values() if p.identifiers.arxiv == "2410.15821")
    assert toxicity.venue.track == "workshop" and toxicity.venue.name == "neurips"
    new = corpus.papers["targeted-vaccine-2024"]
    assert new.kind == "defense" and new.stage == "alignment" and new.source == "awesome-list 2025-10-28"
    for paper_id, paper in corpus.papers.items():  # canonical text: `hftkb fmt --check` passes
        assert corpus.paths[paper_id].read_text(encoding="utf-8") == dump_record(paper)
    # Applying again changes nothing.
    assert main(["sync-awesome", "--kb", str(kb), str(NEW), "--check"]) == 0


def test_older_list_never_downgrades_a_venue(kb, capsys):
    main(["sync-awesome", "--kb", str(kb), str(NEW), "--apply"])
    capsys.readouterr()
    assert main(["sync-awesome", "--kb", str(kb), str(OLD), "--apply"]) == 0
    out = capsys.readouterr().out
    assert "Changed in the list (0):" in out
    assert load_corpus(kb).papers["vaccine-2024"].venue.name == "neurips"


def test_conflicting_venue_is_reported_not_applied(kb, capsys):
    path = kb / "papers" / "booster-2024.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("name: iclr", "name: icml"), encoding="utf-8")
    assert main(["sync-awesome", "--kb", str(kb), str(NEW), "--apply"]) == 0
    out = capsys.readouterr().out
    assert "To check by hand (1):" in out
    assert "venue: the record says ICML 2025, the list says ICLR 2025 (not applied: check and edit by hand)" in out
    assert load_corpus(kb).papers["booster-2024"].venue.name == "icml"


def test_unreadable_list_lines_are_reported_with_their_line(kb, tmp_path, capsys):
    broken = tmp_path / "list.md"
    broken.write_text(NEW.read_text(encoding="utf-8") + "- [2025/13/40] **Impossible date** *arXiv* [[paper](https://arxiv.org/abs/2501.00001)]\n", encoding="utf-8")
    last_line = len(broken.read_text(encoding="utf-8").splitlines())
    assert main(["sync-awesome", "--kb", str(kb), str(broken)]) == 1
    assert f"{broken}:{last_line}: E501 impossible date" in capsys.readouterr().err


def test_missing_list_file_is_one_line(kb, tmp_path, capsys):
    assert main(["sync-awesome", "--kb", str(kb), str(tmp_path / "nope.md")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.md" in err


@pytest.mark.parametrize(
    "a,b",
    [
        ("https://arxiv.org/abs/2402.01109", "http://arxiv.org/pdf/2402.01109v2.pdf"),
        ("https://openreview.net/forum?id=tTPHgb0EtV", "https://openreview.net/pdf?id=tTPHgb0EtV"),
        ("https://github.com/git-disl/Vaccine/", "https://www.github.com/git-disl/Vaccine"),
    ],
)
def test_url_key_ignores_cosmetic_differences(a, b):
    assert url_key(a) == url_key(b)


def test_url_key_keeps_real_differences():
    assert url_key("https://github.com/git-disl/Vaccine") != url_key("https://github.com/git-disl/Booster")


@pytest.mark.skipif(not (REPO / "papers").is_dir(), reason="the repository's knowledge base is not there")
def test_real_kb_is_in_sync_with_its_snapshot(capsys):
    """The knowledge base is current to the list's latest state (2026-05-18, issue 9): nothing new, nothing to update."""
    snapshot = REPO / "tests" / "fixtures" / "awesome" / "awesome-list-2026-05-18.md"
    if not snapshot.is_file():
        pytest.skip("no snapshot of the list in tests/fixtures/awesome")
    assert main(["sync-awesome", "--kb", str(REPO), str(snapshot), "--check"]) == 0
    out = capsys.readouterr().out
    assert "New in the list (0):" in out and "Changed in the list (0):" in out
