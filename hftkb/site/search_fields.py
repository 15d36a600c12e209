"""What the site search finds besides the page text: method names as people type them, and the author pages.

Material's search (lunr in the browser) ranks a page by the fields of its index entry, each with a boost
(`plugins: search: fields:` in mkdocs.yml). The build adds one field, `names`, to:

* each paper page: its short name in the spellings people type ("Safe LoRA", "SafeLoRA", "safe-lora",
  "safelora") and the name of its reference implementation ("safe_lora"), so `safelora`, `SafeLoRA` and
  `safe lora` all put the paper first;
* one entry per author page of an author with two or more papers (the pages skip MkDocs, hftkb.site.authors
  says why, so the search plugin never saw them): the shown name and every spelling the records use.

The search separator (mkdocs.yml) no longer splits words at capitals: with Material's default, "RepNoise" was
indexed as "rep" + "noise", so `repnoise` found nothing, and "AntiDote" could never match `antidote`.
"""

from __future__ import annotations

import re

from hftkb.site.context import SiteContext, page_url
from hftkb.site.escape import esc

FIELD = "names"


def name_spellings(name: str) -> list[str]:
    """'Safe LoRA' -> ['Safe LoRA', 'SafeLoRA', 'Safe-LoRA']: the forms a reader may type (the search lowercases)."""
    words = [word for word in re.split(r"[\s\-_]+", name.strip()) if word]
    forms = [name.strip(), "".join(words), "-".join(words)]
    return list(dict.fromkeys(form for form in forms if form))


def paper_names(site: SiteContext, paper) -> str:
    names: list[str] = []
    if paper.short_name:
        names += name_spellings(paper.short_name)
    method = site.method_for_paper(paper)
    if method is not None:
        names.append(method.name)  # the registry name, e.g. 't_vaccine' (underscores do not split)
    return esc(" ".join(dict.fromkeys(names)))  # index fields are HTML, as the plugin writes them


def add_search_fields(site: SiteContext, entries: list[dict]) -> None:
    """Give paper entries their `names` and append one entry per author page, in place (the search plugin's list)."""
    by_url = {page_url(site.paper_src(paper.id), site.use_directory_urls): paper for paper in site.corpus.papers.values()}
    for entry in entries:
        paper = by_url.get(entry.get("location"))  # the page's first entry: its location has no anchor
        if paper is not None:
            names = paper_names(site, paper)
            if names:
                entry[FIELD] = names
    from hftkb.site.authors import author_target

    # One small entry per author of two or more papers: the name as the title, the other spellings as names when
    # the records use any. An author of one paper is found with that paper (its page lists the authors, and the
    # author page would only repeat the one link); leaving them out keeps 20,000 of the 28,000 authors of the
    # 10,000-record benchmark out of the index (its target: 10 MB).
    for author in site.cache.get("authors", {}).values():
        if len(author.papers) < 2:
            continue
        entry = {"location": author_target(author), "title": esc(author.name), "text": ""}
        others = [spelling for spelling in author.spellings if spelling != author.name]
        if others:
            entry[FIELD] = esc(" ".join(others))
        entries.append(entry)
