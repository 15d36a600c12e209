"""Issue 26 item 7: the FAQ in the order a reviewer asks, the top questions first on its index, and answers
free of in-group jargon, with the auditing-agent figure cited."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from site_helpers import REPO

FAQ = sorted((REPO / "faq").glob("*.yaml"))


def _index_ids(html: str, section: str) -> list[str]:
    block = html.split(f'id="{section}"', 1)[1].split("</ul>", 1)[0]
    return re.findall(r'href="[^"]*?([a-z0-9-]+)/"', block)


def test_index_leads_with_the_questions_reviewers_ask_first(real_site: Path):
    html = (real_site / "faq/index.html").read_text(encoding="utf-8")
    top, more = _index_ids(html, "asked-first"), _index_ids(html, "more-questions")
    assert top[:2] == ["faas-threat-realistic", "why-not-moderation-filter"]
    assert len(top) == 6 and "defender-holds-data" in top and "baselines-to-compare" in top
    assert sorted(top + more) == sorted(p.stem for p in FAQ)  # every entry once
    # The FAQ section of the nav follows the same order.
    nav = (real_site / "faq/faas-threat-realistic/index.html").read_text(encoding="utf-8")
    assert nav.index("../why-not-moderation-filter/") < nav.index("../rlhf-and-preference-optimisation/")


def test_unlisted_entries_follow_in_id_order():
    from types import SimpleNamespace

    from hftkb.site.faq_pages import ordered_entries

    faq = {key: SimpleNamespace(id=key) for key in ("zz-new", "aa-new", "why-not-moderation-filter", "faas-threat-realistic")}
    site = SimpleNamespace(corpus=SimpleNamespace(faq=faq))
    assert [e.id for e in ordered_entries(site)] == ["faas-threat-realistic", "why-not-moderation-filter", "aa-new", "zz-new"]


def test_answers_avoid_in_group_jargon_and_cite_the_auditing_figure():
    for path in FAQ:
        text = path.read_text(encoding="utf-8")
        entry = yaml.safe_load(text)
        prose = " ".join([entry["short_answer"], entry["answer"], *(e["shows"] for e in entry["evidence"])])
        for jargon in ("git-disl", "floor and the scale", "reference_impl", "this project"):
            assert jargon not in prose, f"{path.name}: {jargon!r}"
        if "56.2%" in entry["answer"]:
            assert "2510.16255" in entry["answer"], f"{path.name}: the 56.2% figure without its paper"
