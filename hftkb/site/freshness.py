"""How current the knowledge base is (issue 24): the home page's freshness line and the "beyond the list" page.

* Newest paper: the latest first-appearance `date` of any record; last addition: the latest `added`.
* Last discovery run: the newest `discover/YYYY-MM-DD.yaml` triage file that `hftkb discover` wrote, if any.
* Beyond the list: the records the companion awesome list lacks, i.e. whose `source:` is not that list (found by
  discovery, by citations, by hand). The knowledge base is meant to hold the field past the list; this page shows
  by how much.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hftkb.site.context import SiteContext
from hftkb.site.escape import esc

BEYOND_SRC = "browse/beyond-the-list.md"
LIST_SOURCE = "awesome-list"  # how records imported from the companion list name their source ('awesome-list 2025-10-28')


def from_the_list(paper) -> bool:
    return (paper.source or "").strip().lower().startswith(LIST_SOURCE)


def last_discovery_run(kb_dir: Path) -> tuple[dt.date, str] | None:
    """(date, file name) of the newest discover/YYYY-MM-DD.yaml, or None before the first run."""
    folder = kb_dir / "discover"
    runs = []
    for path in folder.glob("*.yaml") if folder.is_dir() else []:
        try:
            runs.append((dt.date.fromisoformat(path.stem), path.name))
        except ValueError:  # another file in the folder (a README, a config): not a run
            continue
    return max(runs) if runs else None


def freshness(site: SiteContext, src: str) -> str:
    papers = list(site.corpus.papers.values())
    if not papers:
        return "<p>No paper is recorded yet.</p>"
    newest = max(papers, key=lambda p: (p.date, p.id))
    added = max(p.added for p in papers)
    run = last_discovery_run(site.kb_dir)
    beyond = sum(not from_the_list(p) for p in papers)
    discovery = (f"last discovery run {run[0].isoformat()} (<code>discover/{esc(run[1])}</code>)" if run
                 else "no discovery run yet (<code>hftkb discover</code> looks for new papers on arXiv)")
    return (
        f'<p class="hftkb-freshness">Current to <strong>{newest.date.isoformat()}</strong>: the newest paper, '
        f'<a href="{site.link(src, site.paper_src(newest.id))}">{esc(newest.short_name or newest.title)}</a>, first '
        f"appeared then. Last record added {added.isoformat()}; {discovery}. "
        f'<a href="{site.link(src, BEYOND_SRC)}">{beyond} record{"s" if beyond != 1 else ""} beyond the companion list</a>.</p>'
    )


def beyond_page(site: SiteContext) -> str:
    from hftkb.site.tables import paper_table

    papers = [p for p in site.corpus.papers.values() if not from_the_list(p)]
    if papers and len(papers) == len(site.corpus.papers):  # no record comes from the list: All papers is the table
        return ('---\ntitle: "Beyond the list"\nhide:\n  - toc\n---\n\n<h1 id="beyond">Beyond the list</h1>\n'
                f'<p>No record comes from the companion awesome list: all {len(papers)} are beyond it, so the table is '
                f'<a href="{site.link(BEYOND_SRC, "browse/index.md")}">All papers</a>.</p>\n')
    intro = (
        "The records the companion awesome list does not have: papers found by discovery runs, through citations or "
        "by hand (each record's source field says how). The knowledge base is meant to hold the field past that list."
    )
    return (
        '---\ntitle: "Beyond the list"\nhide:\n  - toc\n---\n\n<h1 id="beyond">Beyond the list</h1>\n'
        f"<p>{esc(intro)}</p>\n" + paper_table(site, BEYOND_SRC, papers, empty="Every record comes from the list so far.") + "\n"
    )
