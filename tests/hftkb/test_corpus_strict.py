"""The committed corpus is complete (issue 9, "Done when"): `hftkb validate --strict` passes on papers/, and
the completeness figures reach the issue's thresholds."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from hftkb.cli import main
from hftkb.validate import load_corpus
from hftkb.completeness import METHOD_KINDS, completeness, has_baseline

REPO = Path(__file__).resolve().parents[2]

#: Two of the issue's targets are not met yet (issue 9 closing note): 7 records have no author list the curators
#: could find (anonymous or withdrawn submissions, an IEEE-only paper) and most papers' results tables were out of
#: the curators' reach. Those two tests are strict xfails, so they start failing the day the target is met (remove
#: the marker then); the floors below keep what was reached from eroding.
NOT_YET = pytest.mark.xfail(strict=True, reason="issue 9 target not met yet: see the closing note")
# The baseline floor went from 31 to 24 on 2026-12-08: issue 23 removed the numbers of 8 records that came from
# summary or note sites instead of the papers' own tables (lox, spard, safe-lora, guardrail-safety-preservation,
# continual-safety-alignment, gr-sap, ptst, safety-misalignment) or moved them to the record whose table they are
# (ldifs, vlguard); 23 of the 31 remain.
AUTHORS_FLOOR, BASELINE_FLOOR = 166, 23


@pytest.fixture(scope="module")
def papers():
    corpus = load_corpus(REPO)
    assert corpus.problems == []
    return list(corpus.papers.values())


def test_validate_strict_passes_on_the_committed_corpus(monkeypatch, tmp_path):
    monkeypatch.setenv("HFTKB_ARXIV_CACHE", str(tmp_path / "no-cache"))  # CI has no abstracts: the same here
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["validate", "--kb", str(REPO), "--strict"])
    assert code == 0, out.getvalue()[-3000:]


def test_at_least_173_papers(papers):
    assert len(papers) >= 173


@pytest.mark.parametrize("field", [pytest.param("authors", marks=NOT_YET), "date", "summary", "kind"])
def test_core_fields_in_98_percent_of_records(papers, field):
    count = next(c for c in completeness(papers) if c.field == field)
    assert count.present >= 0.98 * len(papers), f"{field}: {count.present}/{len(papers)}"


def test_stage_in_every_defense(papers):
    assert [p.id for p in papers if p.kind == "defense" and p.stage is None] == []


def test_what_was_reached_does_not_erode(papers):
    counts = {c.field: c for c in completeness(papers)}
    assert counts["authors"].present >= AUTHORS_FLOOR
    assert counts["results+baseline"].present >= BASELINE_FLOOR
    assert all(c.share == 1.0 for c in counts.values() if c.field != "results+baseline"), \
        "every rule field is present or marked absent with a reason"


@NOT_YET
def test_80_percent_of_defenses_and_attacks_carry_results_with_a_baseline(papers):
    methods = [p for p in papers if p.kind in METHOD_KINDS]
    with_baseline = [p for p in methods if has_baseline(p)]
    assert len(with_baseline) >= 0.8 * len(methods), f"{len(with_baseline)}/{len(methods)}"
