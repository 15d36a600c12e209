"""Paper pages: citing (BibTeX and an ACL-style reference to copy, the links that exist), related papers, the
edit link, no empty section; and author names with HTML, braces or LaTeX accents escaped everywhere."""

from __future__ import annotations

import html
import re
from pathlib import Path

from hftkb.validate import load_corpus


def page(site: Path, paper_id: str) -> str:
    return (site / f"papers/{paper_id}/index.html").read_text()


def test_bibtex_on_every_paper_page_is_its_entry_in_papers_bib(fabricated_site: Path):
    bib = (fabricated_site / "downloads/papers.bib").read_text()
    entries = {m.group(1): m.group(0) for m in re.finditer(r"^@\w+\{([^,]+),\n.*?^\}\n", bib, re.S | re.M)}
    assert len(entries) == 60
    for paper_id, entry in entries.items():
        shown = re.search(rf'<code id="bibtex-{paper_id}">(.*?)</code>', page(fabricated_site, paper_id), re.S).group(1)
        assert html.unescape(shown) == entry, paper_id


def test_plain_reference_is_acl_style(fabricated_site: Path, fabricated_kb: Path):
    from hftkb.site.paper_page import plain_reference

    corpus = load_corpus(fabricated_kb)
    venues = corpus.taxonomy["venues"]
    paper = corpus.papers["paper-00002"]
    ref = plain_reference(paper, venues)
    assert ref.startswith("Tiansheng Huang, José García, and P. Writer. ")
    shown = re.search(r'<p class="hftkb-reference" id="reference-paper-00002">(.*?)</p>', page(fabricated_site, "paper-00002")).group(1)
    assert html.unescape(shown) == ref
    if paper.venue and paper.venue.name != "arxiv":
        assert f"In {venues[paper.venue.name].name}." in ref
    else:
        assert f"arXiv preprint arXiv:{paper.identifiers.arxiv}." in ref
    two = corpus.papers["paper-00003"]
    assert plain_reference(two, venues).startswith("tiansheng  huang and Plain Author. ")


def test_access_links_paper_pdf_code_openreview(fabricated_site: Path, fabricated_kb: Path):
    corpus = load_corpus(fabricated_kb)
    for paper_id in ("paper-00004", "paper-00005", "paper-00006"):
        paper = corpus.papers[paper_id]
        block = re.search(r'<p class="hftkb-access-links">(.*?)</p>', page(fabricated_site, paper_id)).group(1)
        links = dict((label, href) for href, label in re.findall(r'<a class="md-button" href="([^"]+)">(\w+)</a>', block))
        assert links["PDF"] == f"https://arxiv.org/pdf/{paper.identifiers.arxiv}"
        assert links["Paper"].startswith("https://arxiv.org/abs/")
        code = next((l.url for l in paper.links if l.kind == "code"), None)
        assert links.get("Code") == code
        assert "OpenReview" not in links  # no OpenReview id in the fabricated records: no button


def test_no_empty_section_on_any_paper_page(fabricated_site: Path):
    for path in sorted((fabricated_site / "papers").glob("*/index.html")):
        text = path.read_text()
        article = text.split('<h1 id="paper"', 1)[1].split("</article>", 1)[0]
        # a heading immediately followed by another heading or by the end of the content is an empty section
        assert not re.search(r"</h2>\s*(<h2[ >]|</section>|$)|</h3>\s*(<h[23][ >]|</section>|$)", article), path
        assert "<h2>Related papers</h2>" in text or "Similar papers" not in text


def test_edit_link_points_at_the_record_on_github(fabricated_site: Path):
    text = page(fabricated_site, "paper-00007")
    assert 'href="https://github.com/hftkb/hftkb/edit/main/papers/paper-00007.yaml"' in text


def test_related_papers_put_shared_relations_before_shared_tags(fabricated_site: Path, fabricated_kb: Path):
    from hftkb.site.paper_page import _neighbours, related_papers

    corpus = load_corpus(fabricated_kb)
    for paper in corpus.papers.values():
        related = related_papers(corpus, paper)
        assert paper.id not in [p.id for p, _ in related]
        assert not {p.id for p, _ in related} & _neighbours(corpus, paper.id)  # direct relations are listed apart
        scores = [score for _, score in related]
        assert scores == sorted(scores, reverse=True)
        for other, score in related:
            shared_targets = _neighbours(corpus, paper.id) & _neighbours(corpus, other.id)
            if score[0]:
                assert shared_targets, (paper.id, other.id)
            else:
                assert not shared_targets
                assert set(paper.tags) & set(other.tags) or (paper.stage and paper.stage == other.stage)


def test_author_names_with_html_braces_and_latex_are_escaped(fabricated_site: Path):
    # paper-00000: '<img src=x onerror=...>' as an author; paper-00001: "Jos{\'e} Garc{\'i}a" and "{Brace} Name"
    zero = page(fabricated_site, "paper-00000")
    assert "<img src=x" not in zero and "&lt;img src=x onerror=" in zero
    one = page(fabricated_site, "paper-00001")
    authors = re.search(r'<p class="hftkb-authors">(.*?)</p>', one).group(1)
    assert "&#123;Brace&#125; Name" in authors and "Jos&#123;\\&#39;e&#125;" in authors  # braces inert, text as written
    bib = re.search(r'<code id="bibtex-paper-00001">(.*?)</code>', one, re.S).group(1)
    assert "\\{Brace\\} Name" in html.unescape(bib)  # braces escaped for BibTeX, not a group
    assert "Jos\\{\\textbackslash{}'e\\}" in html.unescape(bib)
    # the author pages and the index escape them as well
    for path in (fabricated_site / "authors").glob("*.html"):  # the author pages (no <body> tag) and the index
        text = path.read_text()
        assert "<img src=x" not in text and "{Brace}" not in text.split("<body", 1)[-1]
    hostile = next((fabricated_site / "authors").glob("img-src*.html")).read_text()
    assert "<h1>&lt;img src=x onerror=" in hostile and "<title>&lt;img" in hostile
