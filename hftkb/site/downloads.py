"""The files a researcher downloads: papers.json, papers.csv, papers.bib, the JSON Schema, an Atom feed.

All are generated at build time from the loaded corpus; nothing here is committed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from xml.sax.saxutils import escape as xml_escape

from hftkb.site.context import SiteContext

#: Flat columns of papers.csv (lists joined with "; ").
CSV_COLUMNS = [
    "id", "title", "short_name", "authors", "date", "kind", "stage", "sub_family", "attack_type", "venue", "venue_year",
    "venue_track", "tags", "arxiv", "doi", "openreview", "acl", "paper_url", "code_url", "summary", "needs",
    "relations", "reference_impl", "added", "updated",
]


def papers_json(papers) -> str:
    records = [paper.model_dump(mode="json", exclude_none=True) for paper in papers]
    return "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in records) + "\n]\n"


def _first_link(paper, kind: str) -> str:
    return next((link.url for link in paper.links if link.kind == kind), "")


def _csv_cell(value: str) -> str:
    # A cell starting with = + - @ runs as a formula in spreadsheet programs (CSV injection): prefix a quote.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def papers_csv(papers) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in papers:
        row = [
            p.id, p.title, p.short_name or "", "; ".join(p.authors), p.date.isoformat(), p.kind, p.stage or "",
            p.sub_family or "", p.attack_type or "", p.venue.name if p.venue else "",
            str(p.venue.year) if p.venue and p.venue.year else "", p.venue.track if p.venue else "", "; ".join(p.tags),
            p.identifiers.arxiv or "", p.identifiers.doi or "", p.identifiers.openreview or "", p.identifiers.acl or "",
            _first_link(p, "paper"), _first_link(p, "code"), p.summary or "", "; ".join(p.needs),
            "; ".join(f"{r.type}:{r.target}" for r in p.relations), p.reference_impl or "", p.added.isoformat(),
            p.updated.isoformat() if p.updated else "",
        ]
        writer.writerow([_csv_cell(str(cell)) for cell in row])
    return out.getvalue()


def papers_schema(site: SiteContext) -> str:
    """The committed papers/_schema.json when there is one (it is what editors validate against), else the
    schema generated from the model."""
    committed = site.kb_dir / "papers" / "_schema.json"
    if committed.is_file():
        return committed.read_text(encoding="utf-8")
    from hftkb.models import Paper

    return json.dumps(Paper.model_json_schema(), indent=2) + "\n"


def latest_papers(papers, count: int):
    """The most recent additions: by `added`, then by date, newest first."""
    return sorted(papers, key=lambda p: (p.added, p.date, p.id), reverse=True)[:count]


def atom_feed(site: SiteContext, papers, site_url: str | None, count: int = 50) -> str:
    """An Atom 1.0 feed of the latest additions, newest `added` first: each entry is published on its record's
    `added` date and updated on its `updated` date, and its summary opens with the paper's own first-public date.
    Entry links are absolute when `site_url` is configured (mkdocs.yml sets it)."""
    base = (site_url or "").rstrip("/") + "/" if site_url else ""
    latest = latest_papers(papers, count)
    updated = max((p.updated or p.added for p in latest), default=site.today)

    def stamp(day: dt.date) -> str:
        return f"{day.isoformat()}T00:00:00Z"

    entries = []
    for paper in latest:
        href = base + (f"papers/{paper.id}/" if site.use_directory_urls else f"papers/{paper.id}.html")
        authors = "".join(f"<author><name>{xml_escape(name)}</name></author>" for name in paper.authors[:10])
        summary = xml_escape(paper.summary or paper.title)
        entries.append(
            f"<entry><id>urn:hftkb:paper:{xml_escape(paper.id)}</id><title>{xml_escape(paper.title)}</title>"
            f'<link rel="alternate" type="text/html" href="{xml_escape(href, {chr(34): "&quot;"})}"/>'
            f"<published>{stamp(paper.added)}</published><updated>{stamp(paper.updated or paper.added)}</updated>"
            f"{authors}<category term=\"{xml_escape(paper.kind)}\"/>"
            f"<summary>{xml_escape(f'First public {paper.date.isoformat()}. ')}{summary}</summary></entry>"
        )
    self_link = f'<link rel="self" href="{xml_escape(base)}feed.xml"/>' if base else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        "<id>urn:hftkb:feed</id><title>hftkb: latest additions</title>"
        f"<subtitle>New papers in the harmful fine-tuning knowledge base</subtitle>{self_link}"
        f"<updated>{stamp(updated)}</updated><author><name>hftkb</name></author>\n"
        + "\n".join(entries)
        + "\n</feed>\n"
    )


def download_files(site: SiteContext, site_url: str | None, bibtex: dict[str, str]) -> dict[str, str]:
    """src_uri -> text of every generated download (paths relative to the site root).

    `bibtex` holds the entry of each paper (hftkb.bibtex.paper_to_bibtex, already made for the paper pages);
    papers.bib joins them in id order, as `papers_to_bibtex` would, without formatting every entry twice.
    """
    papers = list(site.corpus.papers.values())
    return {
        "downloads/papers.json": papers_json(papers),
        "downloads/papers.csv": papers_csv(papers),
        "downloads/papers.bib": "\n".join(bibtex[paper_id] for paper_id in sorted(bibtex)),
        "downloads/papers.schema.json": papers_schema(site),
        "feed.xml": atom_feed(site, papers, site_url),
    }
