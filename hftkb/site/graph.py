"""The relationship graph: networkx builds it from the records, the site ships it as JSON for the viewer.

Nodes are papers (with kind, stage, year, short label and page URL); edges are the typed relations the records
declare (source -> target). The JSON is Cytoscape's `elements` format, which the viewer on the graph page
(`site/assets/javascripts/graph.js`, with the vendored cytoscape) reads as is.
"""

from __future__ import annotations

import json

from hftkb.site.context import SiteContext, page_url


def build_graph(corpus):
    """A networkx MultiDiGraph: one node per paper, one edge per declared relation."""
    import networkx as nx

    graph = nx.MultiDiGraph()
    for paper in corpus.papers.values():
        graph.add_node(
            paper.id,
            title=paper.title,
            label=paper.short_name or paper.id,
            kind=paper.kind,
            stage=paper.stage or "",
            year=paper.date.year,
        )
    for paper in corpus.papers.values():
        for relation in paper.relations:
            if relation.target in corpus.papers:  # dangling targets are validation errors, never drawn
                graph.add_edge(paper.id, relation.target, type=relation.type)
    return graph


def graph_json(site: SiteContext) -> str:
    """Cytoscape elements + the vocabularies the viewer's filters and legend need.

    Strings are JSON-encoded, and the viewer only ever puts them into text nodes and Cytoscape labels
    (drawn on a canvas), never into HTML.
    """
    graph = build_graph(site.corpus)
    degree = dict(graph.degree())
    nodes = [
        {
            "data": {
                "id": node,
                "label": data["label"],
                "title": data["title"],
                "kind": data["kind"],
                "stage": data["stage"],
                "year": data["year"],
                "degree": degree.get(node, 0),
                "url": page_url(site.paper_src(node), site.use_directory_urls),
            }
        }
        for node, data in graph.nodes(data=True)
    ]
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
