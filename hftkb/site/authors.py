"""Author pages: one per person, whatever spelling each record uses, and the authors index.

Names are matched on a normalised key (`author_key`): LaTeX accents decoded, accents dropped, "Family, Given"
turned around, initials' dots and hyphens made spaces, case folded. "Huang, Tiansheng", "tiansheng huang" and
"Tiansheng  Huang" are one key; "Jos\\'e Garc\\'ia" and "José García" too. An initials-only spelling ("T. Huang")
joins a full name ("Tiansheng Huang") when exactly one full name in the corpus has those initials and family
name; otherwise it stays apart (two people would be merged wrongly more often than one would be split).
The hard cases (a changed family name, a transliteration) go into taxonomy/author_aliases.yaml:

    - name: Tiansheng Huang          # the spelling shown
      aliases: [T. S. Huang, Huang Tiansheng]

Why the pages are light: a field of 10,000 papers has tens of thousands of authors (28,000 in the synthetic
benchmark corpus), most with one paper. A full Material page each would triple the build time and the output
(issue 16 asks for 1.5x bare Material and 250 MB at 10,000 records), so each author page is one small static
file, authors/<slug>.html (no folder each: creating 28,000 folders costs a second) with a small stylesheet of
its own (site/assets/stylesheets/author.css, Material's look), a one-line header back to the site and the
authors index, and the list: about 0.75 KB for a one-paper author.
The search plugin never sees them; hftkb.site.search_fields adds one small entry per author to its index, so a
name typed into the search finds the person's page. The authors index (a normal page in the navigation) lists
and filters everyone. With a `site_url`, the
build adds them to sitemap.xml (`add_to_sitemap`).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from hftkb.site.context import SiteContext, late_block
from hftkb.site.escape import attr, esc

ALIAS_FILE = "taxonomy/author_aliases.yaml"
INDEX_SRC = "authors/index.md"


class AliasFileError(ValueError):
    """taxonomy/author_aliases.yaml is malformed; the message names the file and the line."""


@dataclass
class Author:
    key: str
    slug: str = ""
    name: str = ""  # the spelling shown
    spellings: dict[str, int] = field(default_factory=dict)  # spelling -> number of records that use it
    papers: list = field(default_factory=list)  # Paper records, newest first after `collect_authors`


def _decode_latex(name: str) -> str:
    if "\\" not in name and "{" not in name:
        return name
    from hftkb.bibtex import decode_latex

    try:
        return decode_latex(name)
    except Exception:  # pylatexenc gives up on odd input: the name is then compared as written
        return name


def author_key(name: str) -> str:
    """The normalised form two spellings of one person share (see the module docstring)."""
    text = _decode_latex(name)
    if text.count(",") == 1:  # "Family, Given" (BibTeX order); a name with more commas is left as it is
        family, given = (part.strip() for part in text.split(","))
        if family and given:
            text = f"{given} {family}"
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("ł", "l").replace("Ł", "L").replace("ø", "o").replace("Ø", "O").replace("ß", "ss")
    text = re.sub(r"[.\-‐‑_]", " ", text.casefold())
    text = re.sub(r"[^\w\s]", "", text)
    return " ".join(text.split())


def _initials_key(key: str) -> str | None:
    """'tiansheng huang' -> 't huang'; None for a one-word name."""
    words = key.split()
    if len(words) < 2:
        return None
    return " ".join([*(w[0] for w in words[:-1]), words[-1]])


def _is_initials(key: str) -> bool:
    words = key.split()
    return len(words) >= 2 and all(len(w) == 1 for w in words[:-1])


def load_aliases(kb_dir: Path) -> dict[str, str]:
    """{author_key(spelling): shown name} from taxonomy/author_aliases.yaml ({} without the file).

    Raises AliasFileError naming the file and line of the first problem: not a list, an entry without a `name`,
    an unknown key, a spelling claimed by two names.
    """
    from hftkb.yamlio import LoadError, load_yaml

    path = Path(kb_dir) / ALIAS_FILE
    if not path.is_file():
        return {}
    try:
        data, positions = load_yaml(path, Path(kb_dir))
    except LoadError as err:
        raise AliasFileError("; ".join(problem.format() for problem in err.problems)) from None
    if data is None:
        return {}
    if not isinstance(data, list):
        raise AliasFileError(f"{ALIAS_FILE}:1: a list of {{name, aliases}} entries is expected")
    table: dict[str, str] = {}
    owner_line: dict[str, int] = {}
    for index, entry in enumerate(data):
        line = positions.line((index,))
        if not isinstance(entry, dict):
            raise AliasFileError(f"{ALIAS_FILE}:{line}: each entry is a mapping with `name` and `aliases`")
        unknown = sorted(set(entry) - {"name", "aliases"})
        if unknown:
            raise AliasFileError(f"{ALIAS_FILE}:{positions.line((index, unknown[0]), key=True)}: unknown key '{unknown[0]}' (known: name, aliases)")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise AliasFileError(f"{ALIAS_FILE}:{line}: `name` must be a non-empty string")
        aliases = entry.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
            raise AliasFileError(f"{ALIAS_FILE}:{positions.line((index, 'aliases'))}: `aliases` must be a list of non-empty strings")
        for position, spelling in enumerate([name, *aliases]):
            key = author_key(spelling)
            spelling_line = positions.line((index, "name") if position == 0 else (index, "aliases", position - 1))
            if key in table and table[key] != name.strip():
                raise AliasFileError(
                    f"{ALIAS_FILE}:{spelling_line}: '{spelling}' is already an alias of '{table[key]}' (line {owner_line[key]})"
                )
            table[key] = name.strip()
            owner_line.setdefault(key, spelling_line)
    return table


def _slug(key: str, taken: set[str]) -> str:
    ascii_key = unicodedata.normalize("NFKD", key).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_key).strip("-")[:60]
    if not slug or slug in taken:  # a non-Latin name, or two keys folding to one slug: a stable suffix
        slug = (slug + "-" if slug else "author-") + hashlib.sha1(key.encode()).hexdigest()[:8]
    taken.add(slug)
    return slug


def _shown_name(spellings: dict[str, int]) -> str:
    """The spelling to show: full given names over initials, accents over none, then the most used."""
    if len(spellings) == 1:  # most people (no need to normalise the name again)
        return next(iter(spellings))

    def score(spelling: str):
        key = author_key(spelling)
        return (not _is_initials(key), any(ord(c) > 127 for c in spelling), "," not in spelling,
                spellings[spelling], -len(spelling), spelling)

    return max(spellings, key=score)


def collect_authors(papers, aliases: dict[str, str]) -> tuple[dict[str, Author], dict[str, str]]:
    """({key: Author}, {spelling as written: key}) over every paper's author list."""
    canonical = {}  # key of a spelling -> key of the person (aliases and initials resolved)
    for key, name in aliases.items():
        canonical[key] = author_key(name)
    spelling_keys: dict[str, str] = {}
    for paper in papers:
        for spelling in paper.authors:
            if spelling not in spelling_keys:
                key = author_key(spelling)
                spelling_keys[spelling] = canonical.get(key, key)
    # Initials-only spellings join the one full name with the same initials and family, if there is exactly one.
    full_by_initials: dict[str, set[str]] = defaultdict(set)
    for key in set(spelling_keys.values()):
        if not _is_initials(key):
            initials = _initials_key(key)
            if initials:
                full_by_initials[initials].add(key)
    for spelling, key in spelling_keys.items():
        if _is_initials(key) and key not in aliases:
            candidates = full_by_initials.get(key, set())
            if len(candidates) == 1:
                spelling_keys[spelling] = next(iter(candidates))
    authors: dict[str, Author] = {}
    for paper in papers:
        seen = set()
        for spelling in paper.authors:
            key = spelling_keys[spelling]
            author = authors.get(key)
            if author is None:
                author = authors[key] = Author(key=key)
            author.spellings[spelling] = author.spellings.get(spelling, 0) + 1
            if key not in seen:  # a name written twice in one list is still one paper
                author.papers.append(paper)
                seen.add(key)
    alias_names = {author_key(name): name for name in aliases.values()}
    taken = {"index"}  # authors/index.html is the authors index
    for key in sorted(authors):
        author = authors[key]
        author.name = alias_names.get(key) or _shown_name(author.spellings)
        author.slug = _slug(key, taken)
        author.papers.sort(key=lambda p: (p.date, p.id), reverse=True)
    return authors, spelling_keys


def author_target(author: Author) -> str:
    """The file of an author page, as `site.link` takes it (a static file, not a Markdown page)."""
    return f"authors/{author.slug}.html"


def author_links(site: SiteContext, from_src: str, paper) -> str:
    """The paper's author list, each name linking to its author page (as written in the record)."""
    keys = site.cache["author_keys"]
    authors = site.cache["authors"]
    parts = []
    for spelling in paper.authors:
        href = site.link(from_src, author_target(authors[keys[spelling]]))
        parts.append(f'<a href="{href}">{esc(spelling)}</a>')
    return ", ".join(parts)


def _family(author: Author) -> str:
    words = author.key.split()
    return words[-1] if words else author.key


def index_page(site: SiteContext) -> str:
    authors = sorted(site.cache["authors"].values(), key=lambda a: (_family(a), a.key))
    rows = []
    for author in authors:
        href = f"{author.slug}.html"  # the author pages sit next to the index (authors/)
        rows.append(
            f'<tr data-letter="{attr(_family(author)[:1].upper())}"><td><a href="{href}">{esc(author.name)}</a></td>'
            f"<td>{len(author.papers)}</td><td>{author.papers[0].date.year if author.papers else ''}</td></tr>"
        )
    letters = sorted({_family(a)[:1].upper() for a in authors if _family(a)})
    options = "".join(f'<option value="{attr(letter)}">{esc(letter)}</option>' for letter in letters)
    table = late_block(
        '<section class="hftkb-papers" data-search-exclude data-hftkb-table data-text-column="0">'
        '<form class="hftkb-filters">'
        f'<label>Family name <select data-filter="letter"><option value="">all</option>{options}</select></label>'
        '<label>Name <input type="search" data-filter="text" placeholder="part of a name"></label></form>'
        f'<p class="hftkb-count" aria-live="polite"><span data-shown>{len(rows)}</span> of {len(rows)} authors</p>'
        '<div class="hftkb-scroll"><table class="hftkb-table"><thead><tr>'
        '<th><button type="button" data-sort="name">Name</button></th>'
        '<th><button type="button" data-sort="papers" data-sort-type="number">Papers</button></th>'
        '<th><button type="button" data-sort="latest" data-sort-type="number">Latest</button></th>'
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div></section>"
    )
    return (
        '---\ntitle: "Authors"\nhide:\n  - toc\n---\n\n<h1 id="authors">Authors</h1>\n'
        f"<p>Everyone who wrote a paper in the knowledge base ({len(rows)} people), by family name. Spellings of one "
        "person (accents, initials, \u201cFamily, Given\u201d) share a page; "
        f"<code>{ALIAS_FILE}</code> joins the cases the rules miss.</p>\n{table}\n"
    )


def author_pages(site: SiteContext, site_name: str = "Harmful Fine-tuning Knowledge Base") -> dict[str, str]:
    """{path: HTML} of every author page (static files; see the module docstring for why)."""
    up = "../"
    home = up + ("" if site.use_directory_urls else "index.html")
    index = "./" if site.use_directory_urls else "index.html"
    # Every byte here is paid once per author (28,000 at 10,000 records): one small stylesheet that styles the
    # bare elements (site/assets/stylesheets/author.css), a one-line header, no class names.
    head = (
        '<!doctype html>\n<html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width,'
        f'initial-scale=1"><link rel="icon" href="{up}assets/favicon.svg"><link rel="stylesheet" '
        f'href="{up}assets/stylesheets/author.css">'
    )
    header = f'<header><a href="{home}">{esc(site_name)}</a> <a href="{index}">Authors</a></header>'
    kinds = {key: esc(term.name) for key, term in site.corpus.taxonomy.get("kinds", {}).items()}
    stages = {key: esc(term.name) for key, term in site.corpus.taxonomy.get("stages", {}).items()}
    pages = {}
    for author in site.cache["authors"].values():
        items, year = [], None
        for paper in author.papers:
            if paper.date.year != year:
                if year is not None:
                    items.append("</ul>")
                year = paper.date.year
                items.append(f"<h2>{year}</h2><ul>")
            kind = kinds.get(paper.kind, esc(paper.kind))
            where = " · ".join(part for part in [
                stages.get(paper.stage, esc(paper.stage)) if paper.stage else "", esc(site.venue_label(paper))] if part)
            href = up + ("papers/" + paper.id + "/" if site.use_directory_urls else f"papers/{paper.id}.html")
            items.append(
                f'<li><a href="{attr(href)}">{esc(paper.title)}</a> <i>{kind}</i>'
                + (f" <small>{where}</small>" if where else "") + "</li>"
            )
        items.append("</ul>")
        others = [s for s in sorted(author.spellings) if s != author.name]
        spelled = f"<p>Also written: {esc('; '.join(others))}</p>" if others else ""
        count = len(author.papers)
        pages[author_target(author)] = (
            f"{head}<title>{esc(author.name)} - {esc(site_name)}</title>{header}<main><h1>{esc(author.name)}</h1>"
            f'<p>{count} paper{"s" if count != 1 else ""}, newest first</p>{spelled}{"".join(items)}</main>\n'
        )
    return pages


def add_to_sitemap(site_dir: Path, site_url: str, paths) -> None:
    """Append the author pages to the sitemap MkDocs wrote (it lists only its own pages), and its .gz copy.

    The file is rewritten one `<url><loc>` per line: MkDocs' template indents each entry and gives every page the
    build's date as `<lastmod>` (the day of the build, not of the page: no information for a crawler), which at
    10,000 papers and 28,000 authors is 2 MB of the output."""
    import gzip
    import re

    sitemap = site_dir / "sitemap.xml"
    if not site_url or not sitemap.is_file():
        return
    base = site_url.rstrip("/") + "/"
    own = re.findall(r"<loc>([^<]*)</loc>", sitemap.read_text(encoding="utf-8"))  # already escaped by MkDocs
    entries = "".join(f"<url><loc>{loc}</loc></url>\n" for loc in own)
    entries += "".join(f"<url><loc>{esc(base + path)}</loc></url>\n" for path in paths)
    text = ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
            + entries + "</urlset>\n")
    sitemap.write_text(text, encoding="utf-8")
    with gzip.open(site_dir / "sitemap.xml.gz", "wb", compresslevel=9) as handle:
        handle.write(text.encode("utf-8"))


def prepare(site: SiteContext) -> None:
    """Collect the authors once per build (paper pages and author pages both need them)."""
    aliases = load_aliases(site.kb_dir)
    authors, keys = collect_authors(site.corpus.papers.values(), aliases)
    site.cache["authors"] = authors
    site.cache["author_keys"] = keys
