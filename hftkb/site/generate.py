"""Everything the build generates from the records, computed once per build.

`generate(kb_dir, ...)` returns, per generated page, its front matter (`pages`, what MkDocs reads as the page's
Markdown), its HTML body (`content`) and its late block (`late`, inserted into the finished page); the other
files (`files`: downloads, graph, feed); and the navigation entries of the generated sections (`nav`).
`hftkb.site.hooks` hands them to MkDocs; the tests call it through `hftkb build`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from hftkb.site.context import LATE_END, LATE_MARKER, LATE_START, SiteContext
from hftkb.site.escape import esc


#: kb_dir -> corpus already loaded and validated by `hftkb build`, so the hooks do not load it a second time.
PRELOADED: dict[Path, object] = {}


class SiteBuildError(Exception):
    """The site cannot be built from this knowledge base (the message says why, one problem per line)."""


@dataclass
class Generated:
    site: SiteContext
    pages: dict[str, str] = field(default_factory=dict)  # src_uri -> page source (front matter only, after generate)
    files: dict[str, str] = field(default_factory=dict)
    content: dict[str, str] = field(default_factory=dict)  # src_uri -> the page's HTML body (skips Markdown)
    late: dict[str, str] = field(default_factory=dict)  # src_uri -> HTML put into the finished page
    # path in the built site -> finished HTML written by the on_post_build hook, past MkDocs' file handling (the
    # tens of thousands of light author pages: a File object each would cost seconds at 10,000 records)
    direct: dict[str, str] = field(default_factory=dict)
    nav: dict[str, list] = field(default_factory=dict)  # marker name -> MkDocs nav entries


def load_methods(kb_dir: Path) -> dict:
    """The reference_impl registry of this checkout (plain data, no torch), or {} without one."""
    import importlib.util
    import sys

    path = kb_dir / "reference_impl" / "registry.py"
    if not path.is_file():
        return {}
    spec = importlib.util.spec_from_file_location("_hftkb_site_registry", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # a broken registry must not hide the rest of the site; say so instead
        raise SiteBuildError(f"{path}: cannot read the registry: {type(err).__name__}: {err}") from err
    finally:
        sys.modules.pop(spec.name, None)
    return dict(module.METHODS)


def make_context(kb_dir: Path, *, use_directory_urls: bool = True, today: dt.date | None = None) -> SiteContext:
    from hftkb.validate import load_corpus
    from hftkb.problems import format_problems
    from hftkb.site.implementations import load_implementations

    kb_dir = Path(kb_dir).resolve()
    corpus = PRELOADED.pop(kb_dir, None) or load_corpus(kb_dir)
    if corpus.problems:
        shown = corpus.problems[:30]
        more = f"\n... and {len(corpus.problems) - 30} more" if len(corpus.problems) > 30 else ""
        raise SiteBuildError(
            f"the knowledge base has {len(corpus.problems)} problem(s); run `hftkb validate` and fix them first:\n"
            + format_problems(shown) + more
        )
    methods = load_methods(kb_dir)
    site = SiteContext(corpus=corpus, kb_dir=kb_dir, use_directory_urls=use_directory_urls, methods=methods)
    if today:
        site.today = today
    site.implementations = load_implementations(kb_dir, methods)
    return site


def build_nav(site: SiteContext) -> dict[str, list]:
    """Navigation for the generated sections (paper pages are never in it)."""
    taxonomy = site.corpus.taxonomy

    # Material writes nav titles into the page unescaped: term names come from records, so escape them.
    def name(vocabulary: str, key: str) -> str:
        return esc(taxonomy[vocabulary][key].name)

    def term(vocabulary: str, key: str):
        return {name(vocabulary, key): site.term_src(vocabulary, key)}

    from hftkb.site.authors import INDEX_SRC as AUTHORS_SRC

    from hftkb.site.freshness import BEYOND_SRC

    # The page of incomplete records is for curators: under About -> Reference (hftkb.site.hooks), not here.
    browse: list = ["browse/index.md", BEYOND_SRC, {"Authors": AUTHORS_SRC}]
    for kind in taxonomy.get("kinds", {}):
        if kind == "defense" and taxonomy.get("stages"):
            stages = []
            for stage in taxonomy["stages"]:
                children = [term("sub_families", sf) for sf, t in taxonomy.get("sub_families", {}).items() if t.parent == stage]
                stages.append({name("stages", stage): [site.term_src("stages", stage), *children]} if children else term("stages", stage))
            browse.append({name("kinds", kind): [site.term_src("kinds", kind), *stages]})
        elif kind == "attack" and taxonomy.get("attack_types"):
            types = [term("attack_types", key) for key in taxonomy["attack_types"]]
            browse.append({name("kinds", kind): [site.term_src("kinds", kind), *types]})
        else:
            browse.append(term("kinds", kind))
    for vocabulary, title in (("venues", "Venues"), ("tags", "Tags"), ("needs", "What defenses need")):
        if taxonomy.get(vocabulary):
            browse.append({title: [f"{vocabulary}/index.md", *(term(vocabulary, key) for key in taxonomy[vocabulary])]})
    from hftkb.site.faq_pages import ordered_entries

    faq = ["faq/index.md", *(f"faq/{entry.id}.md" for entry in ordered_entries(site))]
    implementations = ["implementations/index.md", *(f"implementations/{name}.md" for name in site.methods)]
    from hftkb.site.results_pages import results_nav

    return {"browse": browse, "faq": faq, "implementations": implementations, "results": results_nav()}


def generate(
    kb_dir: Path, *, use_directory_urls: bool = True, site_url: str | None = None,
    site_name: str = "Harmful Fine-tuning Knowledge Base", repo_url: str | None = None, edit_uri: str | None = None,
) -> Generated:
    from hftkb.bibtex import paper_to_bibtex
    from hftkb.site import authors
    from hftkb.site.cli_page import cli_page
    from hftkb.site.downloads import download_files
    from hftkb.site.faq_pages import faq_pages
    from hftkb.site.graph import graph_json
    from hftkb.site.implementations import implementation_pages
    from hftkb.site.paper_page import render_paper
    from hftkb.site.results_pages import results_pages
    from hftkb.site.source_tables import source_table_files
    from hftkb.site.term_pages import term_pages

    site = make_context(kb_dir, use_directory_urls=use_directory_urls)
    site.edit_base = edit_base(repo_url, edit_uri)
    try:
        authors.prepare(site)
    except authors.AliasFileError as err:
        raise SiteBuildError(str(err)) from None
    generated = Generated(site=site)
    venues = site.corpus.taxonomy.get("venues")
    bibtex = {paper.id: paper_to_bibtex(paper, venues) for paper in site.corpus.papers.values()}
    for paper in site.corpus.papers.values():
        generated.pages[site.paper_src(paper.id)] = render_paper(site, paper, bibtex[paper.id])
    generated.pages[authors.INDEX_SRC] = authors.index_page(site)
    generated.direct.update(authors.author_pages(site, site_name))
    generated.pages.update(results_pages(site))
    generated.direct.update(source_table_files(site, site_name))  # light static pages (hftkb.site.source_tables)
    generated.pages.update(term_pages(site))
    generated.pages.update(faq_pages(site))
    generated.pages.update(implementation_pages(site))
    generated.pages["reference/cli.md"] = cli_page(site)
    generated.files.update(download_files(site, site_url, bibtex))
    generated.files["downloads/graph.json"] = graph_json(site)
    generated.nav = build_nav(site)
    # Generated pages are HTML from end to end (built here with every record string escaped): MkDocs gets only
    # their front matter as Markdown, the on_page_content hook hands it the body, and on_post_page adds the late
    # block. Markdown never sees a record string, and the build skips parsing HTML it would only pass through.
    for src, source in generated.pages.items():
        front, body = split_front_matter(source)
        body, late = split_late(body)
        generated.pages[src] = front
        generated.content[src] = body
        if late:
            generated.late[src] = late
    return generated


def edit_base(repo_url: str | None, edit_uri: str | None) -> str | None:
    """'https://github.com/hftkb/hftkb/edit/main/': where a record file is edited, from mkdocs.yml.

    `edit_uri` points into the docs folder ('edit/main/site/'); records live at the repository root, so only its
    first two parts (the action and the branch) are kept.
    """
    if not repo_url:
        return None
    parts = [part for part in (edit_uri or "edit/main/").split("/") if part]
    action = "/".join(parts[:2]) if len(parts) >= 2 else "edit/main"
    return repo_url.rstrip("/") + "/" + action + "/"


def split_front_matter(source: str) -> tuple[str, str]:
    """(front matter block, body) of a page source that starts with YAML front matter."""
    if not source.startswith("---\n"):
        return "", source
    end = source.index("\n---\n", 3) + len("\n---\n")
    return source[:end], source[end:].lstrip("\n")


def split_late(markdown: str) -> tuple[str, str]:
    """Cut the late block out of a page source: (source with a marker in its place, its HTML)."""
    if LATE_START not in markdown:
        return markdown, ""
    before, _, after = markdown.partition(LATE_START)
    block, _, rest = after.partition(LATE_END)
    if LATE_START in rest:
        raise SiteBuildError("a generated page has two late blocks; join them into one")
    # The marker (an HTML comment) stands on a line of its own.
    return before.rstrip() + f"\n\n{LATE_MARKER}\n\n" + rest.lstrip(), block


def expand_nav(nav, generated_nav: dict[str, list]):
    """Replace `hftkb:NAME` entries of the configured nav by the generated entries (recursively)."""
    if isinstance(nav, list):
        return [item for item in (expand_nav(item, generated_nav) for item in nav) if item != {}]
    if isinstance(nav, dict):
        expanded = {title: expand_nav(value, generated_nav) for title, value in nav.items()}
        return {title: value for title, value in expanded.items() if value != []}  # an empty section is left out
    if isinstance(nav, str) and nav.startswith("hftkb:"):
        name = nav.split(":", 1)[1]
        if name not in generated_nav:
            raise SiteBuildError(f"mkdocs.yml: unknown generated nav section '{nav}' (known: {', '.join(generated_nav)})")
        return generated_nav[name]
    return nav
