"""Issue 26 items 4 and 5, built-site checks: one palette (hftkb/site/palette.py) behind the timeline, the graph and
the paper pages' neighbourhood pictures, readable in dark mode and told apart under colour-vision deficiency; the
graph laid out at build time (stable), labelled with short names, with its text list."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

from hftkb.site import palette
from site_helpers import REPO


def _rgb(colour: str) -> tuple[float, float, float]:
    return tuple(int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))


def _linear(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def _luminance(colour: str) -> float:
    r, g, b = (_linear(c) for c in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


# Viénot, Brettel & Mollon (1999) dichromat simulation, in linear RGB.
SIMULATIONS = {
    "protanopia": ((0.11238, 0.88762, 0.0), (0.11238, 0.88762, 0.0), (0.00401, -0.00401, 1.0)),
    "deuteranopia": ((0.29275, 0.70725, 0.0), (0.29275, 0.70725, 0.0), (-0.02234, 0.02234, 1.0)),
}


def _seen(colour: str, matrix) -> tuple[float, ...]:
    rgb = [_linear(c) for c in _rgb(colour)]
    return tuple(sum(m * c for m, c in zip(row, rgb)) for row in matrix)


def test_each_set_stays_apart_for_dichromats_and_visible_in_both_schemes():
    slate, white = "#1e2129", "#ffffff"  # Material's dark (slate) and light page backgrounds
    for group in (palette.STAGE_COLOURS, palette.KIND_COLOURS):
        colours = list(group.values())
        assert len(set(colours)) == len(colours)
        for name, matrix in SIMULATIONS.items():
            for a, b in itertools.combinations(colours, 2):
                distance = sum((x - y) ** 2 for x, y in zip(_seen(a, matrix), _seen(b, matrix))) ** 0.5
                assert distance > 0.05, (name, a, b, distance)
        for colour in colours:
            assert _contrast(colour, slate) >= 1.8, (colour, "on dark")
            assert max(_contrast(colour, slate), _contrast(colour, white)) >= 2.5, colour


def test_timeline_graph_and_neighbourhoods_use_the_palette(real_site: Path):
    from hftkb.validate import load_corpus

    papers = load_corpus(REPO).papers
    timeline = (real_site / "explore/timeline/index.html").read_text(encoding="utf-8")
    charts = timeline.split('id="by-kind"')
    by_stage = set(re.findall(r'fill="(#\w+)" data-key="(\w+)"', charts[0]))
    by_kind = set(re.findall(r'fill="(#\w+)" data-key="(\w+)"', charts[1]))
    assert by_stage and all(colour == palette.stage_colour(key) for colour, key in by_stage)
    assert by_kind and all(colour == palette.kind_colour(key) for colour, key in by_kind)
    graph = json.loads((real_site / "downloads/graph.json").read_text(encoding="utf-8"))
    for node in graph["elements"]["nodes"]:
        paper = papers[node["data"]["id"]]
        assert node["data"]["colour"] == palette.paper_colour(paper.kind, paper.stage)
    page = (real_site / "explore/graph/index.html").read_text(encoding="utf-8")
    for key, colour in palette.STAGE_COLOURS.items():
        assert f'data-stage="{key}" checked><span class="hftkb-swatch" style="background:{colour}">' in page
    vaccine = (real_site / "papers/vaccine-2024/index.html").read_text(encoding="utf-8")
    picture = vaccine.split('<figure class="hftkb-neighbourhood">', 1)[1].split("</figure>", 1)[0]
    assert f'fill="{palette.paper_colour("defense", "alignment")}"' in picture
    assert "graph.js" not in vaccine  # a picture made at build time, no script


def test_graph_layout_is_fixed_at_build_time_and_labelled_with_short_names(real_site: Path, tmp_path: Path):
    from hftkb.site.generate import make_context
    from hftkb.site.graph import graph_json

    shipped = json.loads((real_site / "downloads/graph.json").read_text(encoding="utf-8"))
    again = json.loads(graph_json(make_context(REPO)))
    assert shipped == again  # the same records give the same positions
    nodes = shipped["elements"]["nodes"]
    assert all("position" in n for n in nodes)
    assert not [n for n in nodes if n["data"]["label"] == n["data"]["id"]]
    vaccine = next(n for n in nodes if n["data"]["id"] == "vaccine-2024")
    assert vaccine["data"]["label"] == "Vaccine"
    # Related papers are spread out: no two nodes closer than a third of the spacing.
    points = [(n["position"]["x"], n["position"]["y"]) for n in nodes if n["data"]["degree"]]
    closest = min(((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5 for a, b in itertools.combinations(points, 2))
    assert closest > 4, closest


def test_graph_page_has_the_relations_as_text_and_paper_pages_their_neighbourhood(real_site: Path):
    from hftkb.validate import load_corpus

    corpus = load_corpus(REPO)
    page = (real_site / "explore/graph/index.html").read_text(encoding="utf-8")
    listing = page.split('<ul class="hftkb-relation-list">', 1)[1].split("</ul>", 1)[0]
    declared = sum(1 for p in corpus.papers.values() for r in p.relations if r.target in corpus.papers)
    assert listing.count('<a href="../../papers/') == declared + listing.count("<li>")  # each relation, each source
    vaccine = (real_site / "papers/vaccine-2024/index.html").read_text(encoding="utf-8")
    picture = vaccine.split('<figure class="hftkb-neighbourhood">', 1)[1].split("</figure>", 1)[0]
    neighbours = {r.target for r in corpus.papers["vaccine-2024"].relations} | {
        s for s, _ in corpus.reverse_relations("vaccine-2024")}
    linked = set(re.findall(r'href="\.\./\.\./papers/([^/]+)/"', picture))
    assert linked == neighbours or (len(linked) == 16 and linked < neighbours)
    assert 'href="../../explore/graph/?focus=vaccine-2024"' in picture


def test_a_paper_with_one_or_two_neighbours_links_the_graph_instead_of_a_picture(real_site: Path):
    from hftkb.site.graph import MIN_PICTURE
    from hftkb.validate import load_corpus

    corpus = load_corpus(REPO)
    few = next(p for p in sorted(corpus.papers) if 0 < len(
        {r.target for r in corpus.papers[p].relations} | {s for s, _ in corpus.reverse_relations(p)}) < MIN_PICTURE)
    page = (real_site / f"papers/{few}/index.html").read_text(encoding="utf-8")
    assert "hftkb-neighbourhood" not in page
    assert f'href="../../explore/graph/?focus={few}">In the graph</a>' in page
