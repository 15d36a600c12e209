"""MkDocs hooks (`hooks:` in mkdocs.yml): generate the record-driven pages at build time.

* on_config: load and validate the knowledge base, generate every page and file, fill the `hftkb:NAME`
  entries of the nav. The knowledge base is the folder of mkdocs.yml, or $HFTKB_KB when set (`hftkb build --kb`).
* on_env: the filter that lets paper pages share one rendered header and content block (site/overrides/main.html).
* on_files: add the generated pages and files (`File.generated`); a hand-written file at a generated path is an
  error rather than a silent override.
* on_pre_page: generated pages skip Markdown (their body is already HTML).
* on_page_markdown: fill the `<!-- hftkb:NAME -->` markers of hand-written pages and dress their measured-results
  tables (hftkb.site.measured_tables).
* on_page_content: give each generated page its HTML body (MkDocs only converted its front matter).
* on_post_page: put the big generated blocks (tables, the details of a paper) into the finished page; they skip
  Markdown and the search indexer, which would only spend time on them (see hftkb.site.context.late_block).
  Every page then loses the indentation and blank lines of Material's templates (about a third of a page).
* on_post_build: write the author pages, which skip MkDocs (hftkb.site.authors says why), into the sitemap too.
  Before the search plugin writes its index (a higher priority), add the search fields of hftkb.site.search_fields.
* on_serve: watch papers/, taxonomy/, faq/ and reference_impl/ so `mkdocs serve` rebuilds when a record changes.

MkDocs loads this file by path, so it only imports the package absolutely.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

log = logging.getLogger("mkdocs.hooks.hftkb")
_state: dict = {}

#: Pages of site/reference/ that the nav of mkdocs.yml places elsewhere (not again under About -> Reference).
TOP_LEVEL = {"reference/measured-results.md"}

WATCHED = ("papers", "taxonomy", "faq", "reference_impl/registry.py", "reference_impl/defenses", "reference_impl/results")


def kb_dir_for(config) -> Path:
    return Path(os.environ.get("HFTKB_KB") or Path(config.config_file_path).parent).resolve()


def on_config(config):
    from hftkb.site.generate import SiteBuildError, expand_nav, generate

    try:
        generated = generate(
            kb_dir_for(config), use_directory_urls=config.use_directory_urls, site_url=config.site_url,
            site_name=config.site_name, repo_url=config.repo_url, edit_uri=config.edit_uri,
        )
        reference = Path(config.docs_dir) / "reference"
        handwritten = [p.relative_to(config.docs_dir).as_posix() for p in reference.glob("*.md")] if reference.is_dir() else []
        handwritten = [src for src in handwritten if src not in TOP_LEVEL]
        from hftkb.site.completeness_page import INCOMPLETE_SRC

        curators = [INCOMPLETE_SRC] if INCOMPLETE_SRC in generated.pages else []  # completeness: for curators
        generated.nav["reference"] = sorted(handwritten + [src for src in generated.pages if src.startswith("reference/")]) + curators
        if config.nav is not None:
            config.nav = expand_nav(config.nav, generated.nav)
    except SiteBuildError as err:
        raise PluginError(str(err)) from None
    _state["generated"] = generated
    config.extra["hftkb_cache"] = {}  # blocks shared by all paper pages (site/overrides/main.html), per build
    log.info(
        "hftkb: generated %d pages and %d files from %d papers",
        len(generated.pages), len(generated.files), len(generated.site.corpus.papers),
    )
    return config


def on_env(env, config, files):
    env.filters["hftkb_split"] = split_around
    return env


def split_around(html: str, part: str, after: str = "") -> list[str]:
    """`html` cut around the first `part` that follows `after`: how paper pages share one rendered header (cut
    around the page title) and content block (cut around the page's content), site/overrides/main.html."""
    head, found, tail = html.partition(after) if after else ("", "", html)
    before, part_found, rest = tail.partition(part)
    if (after and not found) or not part_found:
        raise PluginError(f"site/overrides/main.html: {part[:40]!r} is not where Material's template used to put it")
    return [head + found + before, rest]


def on_files(files, config):
    generated = _state["generated"]
    clashes = [src for src in [*generated.pages, *generated.files] if files.get_file_from_path(src) is not None]
    if clashes:
        raise PluginError(
            f"{config.docs_dir}/{clashes[0]}: this path is generated from the records; remove the hand-written file"
            + (f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else "")
        )
    for src, content in generated.pages.items():
        files.append(File.generated(config, src, content=content))
    for src, content in generated.files.items():
        files.append(File.generated(config, src, content=content))
    return files


def on_page_markdown(markdown, page, config, files):
    if page.file.generated_by:
        return markdown
    if "<!-- results:" in markdown:
        from hftkb.site.measured_tables import dress_results_blocks

        markdown = dress_results_blocks(_state["generated"].site, page.file.src_uri, markdown)
    if "<!-- hftkb:" not in markdown:
        return markdown
    from hftkb.site.fragments import fill_markers

    try:
        return fill_markers(_state["generated"].site, page.file.src_uri, markdown)
    except ValueError as err:
        raise PluginError(str(err)) from None


def on_pre_page(page, config, files):
    """Generated pages skip Markdown: their source is front matter only, their body comes from on_page_content.

    MkDocs would build a Markdown converter with every extension of mkdocs.yml for each page only to convert an
    empty string (about 1.5 s at 10,000 records); the result is the same as MkDocs' for an empty page.
    """
    if page.file.src_uri in _state["generated"].content:
        page.render = functools.partial(_render_empty_page, page)
    return page


def _render_empty_page(page, config, files) -> None:
    from mkdocs.structure.toc import get_toc

    if page.markdown.strip():  # only front matter is expected here (hftkb.site.generate.generate)
        raise PluginError(f"{page.file.src_uri}: a generated page has Markdown after its front matter")
    page.content = ""
    page.toc = get_toc([])
    page.present_anchor_ids = set()
    page.links_to_anchors = {}


def on_page_content(html, page, config, files):
    body = _state["generated"].content.get(page.file.src_uri)
    return html if body is None else body


def on_post_page(output, page, config):
    from hftkb.site.context import LATE_MARKER, strip_indentation, tighten_navs

    # The template's indentation goes first: the late block is generated HTML without any (and holds the
    # <pre> blocks of paper pages, which strip_indentation would have to keep apart).
    output = tighten_navs(strip_indentation(output))
    generated = _state["generated"]
    # Generated pages' late blocks, or one a marker of a hand-written page left (the graph page's text list).
    late = generated.late.get(page.file.src_uri) or generated.site.cache.get("late_pages", {}).get(page.file.src_uri)
    if late is not None:
        if LATE_MARKER not in output:
            raise PluginError(f"{page.file.src_uri}: the place for the generated block was lost in rendering")
        output = output.replace(LATE_MARKER, late, 1)
    return output


@event_priority(50)  # before the search plugin (priority 0) writes search_index.json
def on_post_build(config):
    """Add the search fields (hftkb.site.search_fields) to the search plugin's entries, then write the pages that skip MkDocs entirely (hftkb.site.generate.Generated.direct: the author pages) and
    add them to the sitemap."""
    from hftkb.site.authors import add_to_sitemap
    from hftkb.site.search_fields import add_search_fields

    search = config.plugins.get("material/search") or config.plugins.get("search")
    if search is not None and getattr(search, "search_index", None) is not None:
        add_search_fields(_state["generated"].site, search.search_index.entries)
    site_dir = Path(config.site_dir)
    direct = _state["generated"].direct
    made: set[Path] = set()
    for path, text in direct.items():
        target = site_dir / path
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        target.write_text(text, encoding="utf-8")
    add_to_sitemap(site_dir, config.site_url, direct)


def on_serve(server, config, builder):
    kb_dir = kb_dir_for(config)
    for name in WATCHED:
        path = kb_dir / name
        if path.exists():
            server.watch(str(path))
    return server
