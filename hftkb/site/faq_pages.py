"""The reviewer FAQ: an index of the questions and one page per entry with its answer and evidence."""

from __future__ import annotations

from hftkb.site.context import SiteContext
from hftkb.site.escape import esc, front_matter_string
from hftkb.site.markdown_safe import render_markdown


def entry_page(site: SiteContext, entry) -> str:
    src = f"faq/{entry.id}.md"
    evidence = "".join(
        f"<li>{site.paper_link(src, item.paper)}: {esc(item.shows)}</li>" for item in entry.evidence
    )
    related = "".join(
        f'<li><a href="{site.link(src, f"faq/{other}.md")}">{esc(site.corpus.faq[other].question)}</a></li>'
        for other in entry.related
        if other in site.corpus.faq
    )
    tags = " ".join(site.term_link(src, "tags", tag, css="hftkb-tag") for tag in entry.tags)
    parts = [
        f'<h1 id="question">{esc(entry.question)}</h1>',
        f'<div class="admonition abstract"><p class="admonition-title">Short answer</p><p>{esc(entry.short_answer)}</p></div>',
        f'<p class="hftkb-tags">{tags}</p>' if tags else "",
        f'<div class="hftkb-answer">{render_markdown(entry.answer)}</div>',
        f'<h2>Evidence</h2><ul class="hftkb-evidence">{evidence}</ul>',
        f"<h2>Related questions</h2><ul>{related}</ul>" if related else "",
        f'<p class="hftkb-note">Record <code>faq/{esc(entry.id)}.yaml</code>'
        + (f", added {entry.added.isoformat()}" if entry.added else "")
        + "</p>",
    ]
    body = "\n".join(p for p in parts if p)
    return (
        f"---\ntitle: {front_matter_string(entry.question)}\nhide:\n  - toc\ndescription: {front_matter_string(entry.short_answer)}\n---\n\n"
        f"{body}\n"
    )


def index_page(site: SiteContext) -> str:
    src = "faq/index.md"
    items = "".join(
        f'<li><a href="{site.link(src, f"faq/{entry.id}.md")}"><strong>{esc(entry.question)}</strong></a>'
        f"<br>{esc(entry.short_answer)}</li>"
        for entry in site.corpus.faq.values()
    )
    intro = esc(
        "Questions reviewers ask about harmful fine-tuning papers, each answered in a few sentences and backed by "
        "at least two papers in the knowledge base. The same answers are available offline with "
    ) + '<code>hftkb faq "your question"</code>.'.replace('"', "&quot;")
    content = f'<ul class="hftkb-faq-list">{items}</ul>' if items else "<p>No question has been answered yet.</p>"
    return f'---\ntitle: "Reviewer FAQ"\nhide:\n  - toc\n---\n\n<h1 id="faq">Reviewer FAQ</h1>\n<p>{intro}</p>\n{content}\n'


def faq_pages(site: SiteContext) -> dict[str, str]:
    pages = {"faq/index.md": index_page(site)}
    for entry in site.corpus.faq.values():
        pages[f"faq/{entry.id}.md"] = entry_page(site, entry)
    return pages
