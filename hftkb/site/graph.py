"""The relationship graph: networkx builds it from the records and lays it out at build time; the site ships it
as JSON for the viewer, a text list as its alternative, and a picture of each paper's neighbourhood.

Nodes are papers (kind, stage, year, a short label, the palette colour and a fixed position); edges are the
typed relations the records declare (source -> target). The JSON is Cytoscape's `elements` format, which the
viewer on the graph page (`site/assets/javascripts/graph.js`, with the vendored cytoscape) reads as is, with the
"preset" layout: the same records give the same picture on every load and every build (issue 26).

Layout: networkx's spring layout (Fruchterman-Reingold), seeded, per connected group of related papers, the groups
packed in rows; papers without relations sit in rows below (the viewer hides them unless asked). The dense spring
layout needs memory quadratic in a group's nodes, so a group past LAYOUT_LIMIT papers (possible in the
10,000-record benchmark) is laid out on a circle: still fixed, and cheap.
"""

from __future__ import annotations

import json
import math

from hftkb.site.context import SiteContext, page_url
from hftkb.site.escape import attr, esc
from hftkb.site.palette import paper_colour

SEED = 20241  # any fixed number: the layout depends only on the records
LAYOUT_LIMIT = 1500
SPACING = 70  # pixels per node side, so labels have room at zoom 1
MIN_PICTURE = 4  # neighbours from which a paper page draws its neighbourhood (fewer: a link to the graph)


def short_label(paper) -> str:
    """The node label: the short name, else the title's first words (never the file id)."""
    if paper.short_name:
        return paper.short_name
    words = paper.title.split(":")[0].split()
    label = ""
    for word in words:
        if len(label) + len(word) + 1 > 22:
            return label + "…"
        label = f"{label} {word}".strip()
    return label


def build_graph(corpus):
    """A networkx MultiDiGraph: one node per paper, one edge per declared relation."""
    import networkx as nx

    graph = nx.MultiDiGraph()
    for paper in corpus.papers.values():
        graph.add_node(paper.id, title=paper.title, label=short_label(paper), kind=paper.kind,
                       stage=paper.stage or "", year=paper.date.year, date=paper.date.isoformat())
    for paper in corpus.papers.values():
        for relation in paper.relations:
            if relation.target in corpus.papers:  # dangling targets are validation errors, never drawn
                graph.add_edge(paper.id, relation.target, type=relation.type)
    return graph


def _component_layout(component, size: float) -> dict[str, tuple[float, float]]:
    """Positions in [0, size]² for one connected group: seeded spring layout, or a circle past LAYOUT_LIMIT."""
    import networkx as nx

    nodes = sorted(component)
    if len(nodes) == 1:
        return {nodes[0]: (size / 2, size / 2)}
    if len(nodes) <= LAYOUT_LIMIT:
        raw = nx.spring_layout(component, seed=SEED, k=2.2 / math.sqrt(len(nodes)), iterations=300)
    else:
        raw = {node: (math.cos(2 * math.pi * i / len(nodes)), math.sin(2 * math.pi * i / len(nodes)))
               for i, node in enumerate(nodes)}
    xs, ys = [x for x, _ in raw.values()], [y for _, y in raw.values()]
    span = max(max(xs) - min(xs), max(ys) - min(ys)) or 1.0
    return {node: ((x - min(xs)) / span * size, (y - min(ys)) / span * size) for node, (x, y) in raw.items()}


def layout(graph) -> dict[str, tuple[float, float]]:
    """node -> (x, y) in pixels. Each connected group of related papers is laid out on its own (a single spring
    layout pushes small groups to the far edges and crushes the big one) and sized by its node count; the groups
    are then packed in rows, biggest first, and papers without relations sit in rows below them."""
    import networkx as nx

    simple = nx.Graph(graph.to_undirected())
    simple.remove_edges_from(nx.selfloop_edges(simple))
    groups = sorted((simple.subgraph(c) for c in nx.connected_components(simple) if len(c) > 1),
                    key=lambda g: (-len(g), min(g)))
    positions: dict[str, tuple[float, float]] = {}
    boxes = [(group, SPACING * math.sqrt(len(group)) * 1.5) for group in groups]
    row_width = max([size for _, size in boxes[:1]] + [math.sqrt(sum(size * size for _, size in boxes))]) if boxes else 0
    x = y = row_height = 0.0
    for group, size in boxes:
        if x > 0 and x + size > row_width:
            x, y, row_height = 0.0, y + row_height + SPACING, 0.0
        for node, (px, py) in _component_layout(group, size).items():
            positions[node] = (x + px, y + py)
        x += size + SPACING
        row_height = max(row_height, size)
    alone = sorted((n for n in graph if n not in positions), key=lambda n: (graph.nodes[n]["date"], n))
    per_row = max(8, int(row_width // SPACING))
    top = (y + row_height + 2 * SPACING) if boxes else 0
    for index, node in enumerate(alone):
        positions[node] = ((index % per_row) * SPACING, top + (index // per_row) * SPACING)
    return {node: (round(px, 1), round(py, 1)) for node, (px, py) in positions.items()}


def graph_data(site: SiteContext):
    """(networkx graph, positions), computed once per build (the graph page, the JSON and the paper pages)."""
    cached = site.cache.get("graph")
    if cached is None:
        graph = build_graph(site.corpus)
        cached = site.cache["graph"] = (graph, layout(graph))
    return cached


def graph_json(site: SiteContext) -> str:
    """Cytoscape elements + the vocabularies the viewer's filters and legend need.

    Strings are JSON-encoded, and the viewer only ever puts them into text nodes and Cytoscape labels
    (drawn on a canvas), never into HTML.
    """
    graph, positions = graph_data(site)
    degree = dict(graph.degree())
    nodes = []
    for node, data in graph.nodes(data=True):
        x, y = positions[node]
        nodes.append({
            "data": {
                "id": node, "label": data["label"], "title": data["title"], "kind": data["kind"],
                "stage": data["stage"], "year": data["year"], "degree": degree.get(node, 0),
                "colour": paper_colour(data["kind"], data["stage"]),
                "url": page_url(site.paper_src(node), site.use_directory_urls),
            },
            "position": {"x": x, "y": y},
        })
    edges = [
        {"data": {"id": f"e{index}", "source": source, "target": target, "type": data["type"]}}
        for index, (source, target, data) in enumerate(graph.edges(data=True))
    ]
    taxonomy = site.corpus.taxonomy
    legend = {
        "kinds": {key: term.name for key, term in taxonomy.get("kinds", {}).items()},
        "stages": {key: term.name for key, term in taxonomy.get("stages", {}).items()},
        "relation_types": {key: term.name for key, term in taxonomy.get("relation_types", {}).items()},
    }
    # `</` is escaped so the JSON could also be inlined in a <script> element safely.
    return json.dumps({"elements": {"nodes": nodes, "edges": edges}, "legend": legend}, ensure_ascii=False).replace(
        "</", "<\\/"
    )


def relation_list(site: SiteContext, src: str) -> str:
    """The graph as text: each paper with relations, and what it relates to (the alternative to the canvas)."""
    relation_types = site.corpus.taxonomy.get("relation_types", {})
    items = []
    for paper in sorted(site.corpus.papers.values(), key=lambda p: (p.date, p.id)):
        targets = [r for r in paper.relations if r.target in site.corpus.papers]
        if not targets:
            continue
        parts = "; ".join(
            f"{esc(relation_types[r.type].name if r.type in relation_types else r.type)} "
            f'<a href="{site.link(src, site.paper_src(r.target))}">{esc(short_label(site.corpus.papers[r.target]))}</a>'
            for r in targets
        )
        items.append(f'<li><a href="{site.link(src, site.paper_src(paper.id))}">{esc(short_label(paper))}</a> '
                     f'<span class="hftkb-note">{paper.date.year}</span>: {parts}</li>')
    if not items:
        return "<p>No record declares a relation yet.</p>"
    return f'<ul class="hftkb-relation-list">{"".join(items)}</ul>'


def neighbourhood_svg(site: SiteContext, src: str, paper) -> str:
    """A small picture of the paper and the papers it relates to (either direction), each a link, in the
    graph's colours, and a link that opens the graph on it; '' for a paper without relations, the link alone for
    one with fewer than MIN_PICTURE neighbours. Laid out here (a circle around the paper): no script."""
    graph, _ = graph_data(site)
    if paper.id not in graph:
        return ""
    neighbours = sorted(set(graph.successors(paper.id)) | set(graph.predecessors(paper.id)) - {paper.id},
                        key=lambda n: (graph.nodes[n]["date"], n))
    if not neighbours:
        return ""
    focus = site.link(src, "explore/graph.md") + f"?focus={attr(paper.id)}"
    if len(neighbours) < MIN_PICTURE:  # up to three neighbours: the list says it all; the graph link stays
        return f'<p class="hftkb-note"><a href="{focus}">In the graph</a></p>'
    shown = neighbours[:16]  # a hub paper keeps a readable picture; the list beside it names every relation
    width, height, radius = 560, 300, 110
    cx, cy = width / 2, height / 2
    points = {}
    for index, node in enumerate(shown):
        angle = 2 * math.pi * index / len(shown) - math.pi / 2
        points[node] = (cx + radius * 1.9 * math.cos(angle), cy + radius * math.sin(angle))
    # The edges as one path (a move to the centre, a line out, per neighbour): a fraction of the bytes of <line>s.
    lines = '<path d="' + "".join(f"M{cx:.0f} {cy:.0f}L{x:.0f} {y:.0f}" for x, y in points.values()) + '"/>'

    def node_svg(node, x, y, centre=False):
        data = graph.nodes[node]
        # No <title> tooltips: the label names the paper, and 10,000 pages pay for every byte here.
        circle = f'<circle cx="{x:.0f}" cy="{y:.0f}" r="{9 if centre else 6}" fill="{paper_colour(data["kind"], data["stage"])}"/>'
        css = ' class="hftkb-centre"' if centre else ""
        label = (f'<text x="{x:.0f}" y="{y + (22 if centre else 17):.0f}" text-anchor="middle"{css}>'
                 f'{esc(data["label"])}</text>')
        if centre:
            return circle + label
        return f'<a href="{site.link(src, site.paper_src(node))}">{circle}{label}</a>'

    nodes = "".join(node_svg(node, x, y) for node, (x, y) in points.items())
    more = f" (the first {len(shown)} of {len(neighbours)})" if len(shown) < len(neighbours) else ""
    return (
        f'<figure class="hftkb-neighbourhood"><svg viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{esc(short_label(paper))} and the {len(shown)} papers it relates to" xmlns="http://www.w3.org/2000/svg">'
        f'<g class="hftkb-edges">{lines}</g>{nodes}{node_svg(paper.id, cx, cy, centre=True)}</svg>'
        f'<figcaption>Its neighbourhood in the relationship graph{more}; '
        f'<a href="{focus}">open it in the graph</a>.</figcaption></figure>'
    )
