"""Issue 26 item 10 and issue 24 item 4, checked on built sites: the sitemap and the feed with absolute URLs and
real dates, the vocabulary overviews linked, one arXiv venue, stage pages without repeated columns or curator
figures, no broken anchor, and the home page saying how current the knowledge base is."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from site_helpers import REPO, build

ATOM = "{http://www.w3.org/2005/Atom}"


def test_sitemap_lists_absolute_urls(real_site: Path):
    sitemap = (real_site / "sitemap.xml").read_text(encoding="utf-8")
    locs = re.findall(r"<loc>([^<]+)</loc>", sitemap)
    assert len(locs) > 500 and all(loc.startswith("https://hftkb.github.io/hftkb/") for loc in locs)
    assert "https://hftkb.github.io/hftkb/papers/vaccine-2024/" in locs
    assert "https://hftkb.github.io/hftkb/authors/tiansheng-huang.html" in locs


def test_feed_uses_each_records_dates_and_absolute_links(real_site: Path):
    from hftkb.validate import load_corpus

    papers = load_corpus(REPO).papers
    feed = ET.fromstring((real_site / "feed.xml").read_bytes())
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == min(50, len(papers))
    added = []
    for entry in entries:
        href = entry.find(f"{ATOM}link").get("href")
        assert href.startswith("https://hftkb.github.io/hftkb/papers/"), href
        paper = papers[href.rstrip("/").rsplit("/", 1)[1]]
        assert entry.find(f"{ATOM}published").text == f"{paper.added.isoformat()}T00:00:00Z"
        assert entry.find(f"{ATOM}summary").text.startswith(f"First public {paper.date.isoformat()}.")
        added.append(paper.added)
    assert added == sorted(added, reverse=True)  # newest additions first
    assert len({e.find(f"{ATOM}summary").text[:23] for e in entries}) > 10  # real, differing paper dates


def test_vocabulary_overviews_are_linked(real_site: Path):
    for page in ("index.html", "browse/index.html"):
        html = (real_site / page).read_text(encoding="utf-8")
        for folder in ("kinds", "stages", "sub-families", "attack-types"):
            assert re.search(rf'href="(\.\./)?{folder}/"', html), (page, folder)


def test_preprints_on_arxiv_count_as_arxiv(real_site: Path):
    from hftkb.validate import load_corpus

    arxiv_preprints = [p.id for p in load_corpus(REPO).papers.values()
                       if p.venue and p.venue.name == "preprint" and p.identifiers.arxiv]
    assert arxiv_preprints  # locking-down-finetuned-llms-2024, safety-alignment-shouldnt-complicated-2024
    browse = (real_site / "browse/index.html").read_text(encoding="utf-8")
    for paper_id in arxiv_preprints:
        row = re.search(rf'<tr [^>]*data-venue="([^"]*)"[^>]*>(?:(?!</tr>).)*papers/{paper_id}/', browse, re.S)
        assert row.group(1) == "arxiv", paper_id
    assert len(re.findall(r'<option value="arxiv">arXiv \(', browse)) == 1
    assert all(f"papers/{p}/" in (real_site / "venues/arxiv/index.html").read_text() for p in arxiv_preprints)


def test_stage_pages_do_not_repeat_kind_and_stage_or_show_curator_figures(real_site: Path):
    page = (real_site / "stages/fine_tuning/index.html").read_text(encoding="utf-8")
    table = page.split("<table", 1)[1].split("</table>", 1)[0]
    assert "<th>Kind</th>" not in table and "Fine-tuning stage</small>" not in table
    assert "records complete" not in page
    # A page with several kinds keeps the column.
    assert "<th>Kind</th>" in (real_site / "browse/index.html").read_text(encoding="utf-8")


def test_no_link_points_at_a_missing_anchor(real_site: Path):
    page = (real_site / "reference/benchmarks/index.html").read_text(encoding="utf-8")
    for anchor in re.findall(r'href="#([^"]+)"', page):
        assert f'id="{anchor}"' in page, anchor


def test_home_page_says_how_current_the_knowledge_base_is(real_site: Path):
    from hftkb.site.freshness import from_the_list
    from hftkb.validate import load_corpus

    papers = list(load_corpus(REPO).papers.values())
    home = (real_site / "index.html").read_text(encoding="utf-8")
    line = re.search(r'<p class="hftkb-freshness">(.*?)</p>', home, re.S).group(1)
    assert f"Current to <strong>{max(p.date for p in papers).isoformat()}</strong>" in line
    assert f"Last record added {max(p.added for p in papers).isoformat()}" in line
    beyond = [p for p in papers if not from_the_list(p)]
    assert f"{len(beyond)} record" in line and 'href="browse/beyond-the-list/"' in line
    page = (real_site / "browse/beyond-the-list/index.html").read_text(encoding="utf-8")
    assert all(f"papers/{p.id}/" in page for p in beyond)
    assert not [p for p in papers if from_the_list(p) and f"papers/{p.id}/" in page.split("<table", 1)[-1]]


def test_last_discovery_run_is_read_from_the_triage_files(tmp_path: Path, fabricated_kb: Path):
    import shutil

    kb = tmp_path / "kb"
    shutil.copytree(fabricated_kb, kb)
    (kb / "discover").mkdir()
    for name in ("2026-11-01.yaml", "2026-12-07.yaml", "README.yaml"):
        (kb / "discover" / name).write_text("[]\n")
    build(kb, tmp_path / "out")
    home = (tmp_path / "out/index.html").read_text(encoding="utf-8")
    assert "last discovery run 2026-12-07 (<code>discover/2026-12-07.yaml</code>)" in home
    # Every fabricated record is beyond the list: the page says so instead of repeating All papers' table.
    beyond = (tmp_path / "out/browse/beyond-the-list/index.html").read_text(encoding="utf-8")
    assert "No record comes from the companion awesome list" in beyond and "hftkb-table" not in beyond


def test_search_index_has_an_entry_per_author_of_two_or_more_papers_and_the_method_names(real_site: Path):
    import json

    from hftkb.site.authors import author_target, collect_authors, load_aliases
    from hftkb.validate import load_corpus

    corpus = load_corpus(REPO)
    authors, _ = collect_authors(corpus.papers.values(), load_aliases(REPO))
    docs = json.loads((real_site / "search/search_index.json").read_text(encoding="utf-8"))["docs"]
    indexed = {d["location"] for d in docs if d["location"].startswith("authors/") and d["location"] != "authors/"}
    assert indexed == {author_target(a) for a in authors.values() if len(a.papers) >= 2}
    safe_lora = next(d for d in docs if d["location"] == "papers/safe-lora-2024/")
    assert safe_lora["names"] == "Safe LoRA SafeLoRA Safe-LoRA safe_lora"
