"""The scope rule (issue 24 item 3): written in CONTRIBUTING.md and on the About page, and applied to the records.

A record outside the core threat is tagged `adjacent` and says why in a `notes:` line starting "scope: adjacent".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hftkb.validate import load_corpus

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(REPO)


@pytest.mark.parametrize("page", ["CONTRIBUTING.md", "site/about.md"])
def test_the_rule_decides_every_named_case(page):
    text = (REPO / page).read_text(encoding="utf-8")
    section = text[text.index("What counts as harmful fine-tuning"):]
    for case in ("benign fine-tuning that degrades safety", "emergent misalignment", "tamper-resistance",
                 "relearning attacks", "subliminal transfer", "reward hacking"):
        assert case in section.lower().replace("**", ""), f"{page}: the scope rule does not decide {case!r}"
    assert "adjacent" in section


def test_adjacent_records_say_why(corpus):
    adjacent = [paper for paper in corpus.papers.values() if "adjacent" in paper.tags]
    assert len(adjacent) >= 2
    for paper in adjacent:
        assert any(note.startswith("scope: adjacent") for note in paper.notes), f"{paper.id}: tagged adjacent without a reason"
    for paper in corpus.papers.values():
        if any(note.startswith("scope: adjacent") for note in paper.notes):
            assert "adjacent" in paper.tags, f"{paper.id}: a scope note but no adjacent tag"


@pytest.mark.parametrize("paper_id", [
    "bi-factorial-preference-optimization-2024",  # never evaluated against harmful fine-tuning
    "immunizing-3d-gaussian-generative-2026",  # GaussLock: 3D Gaussian generative models
    "llm-unlearning-resilient-relearning-2025",  # relearning attacks on unlearned models
    "leveraging-catastrophic-forgetting-develop-2024",  # diffusion models
])
def test_the_rule_is_applied(corpus, paper_id):
    assert "adjacent" in corpus.papers[paper_id].tags


@pytest.mark.parametrize("paper_id", [
    "emergent-misalignment-2025", "tar-2024", "fine-tuning-aligned-language-2023", "whats-safe-data-identifying-2024",
])
def test_the_core_stays_in(corpus, paper_id):
    assert "adjacent" not in corpus.papers[paper_id].tags
