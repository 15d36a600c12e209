"""The reviewer FAQ: an index of the questions and one page per entry with its answer and evidence."""

from __future__ import annotations

from hftkb.site.context import SiteContext
from hftkb.site.escape import esc, front_matter_string
from hftkb.site.markdown_safe import render_markdown

#: The order a reviewer meets the questions in: is the threat real, why not just filter, why does it happen, is the
#: defender's data fair, then how to evaluate, then the finer points. The first TOP_COUNT lead the index. An entry
#: not listed here follows in file-name order, so a new question appears without editing this list.
READING_ORDER = (
    "faas-threat-realistic", "why-not-moderation-filter", "why-finetuning-breaks-alignment", "benign-data-attacks",
    "defender-holds-data", "baselines-to-compare", "harmful-score-measurement", "harmful-ratio-and-sample-count",
    "adaptive-attackers", "attack-invisible-to-task-metrics", "evaluation-datasets-and-models",
    "large-lr-many-epochs", "lora-vs-full-finetuning", "open-weight-vs-api", "alignment-stage-limits",
    "defense-stage-costs", "jailbreak-and-backdoor-difference", "rlhf-and-preference-optimisation",
)
TOP_COUNT = 6


def ordered_entries(site: SiteContext) -> list:
    """The FAQ entries in READING_ORDER, the unlisted ones after them by id."""
    rank = {key: index for index, key in enumerate(READING_ORDER)}
    return sorted(site.corpus.faq.values(), key=lambda entry: (rank.get(entry.id, len(rank)), entry.id))


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
    def item(entry) -> str:
        return (f'<li><a href="{site.link(src, f"faq/{entry.id}.md")}"><strong>{esc(entry.question)}</strong></a>'
                f"<br>{esc(entry.short_answer)}</li>")

    entries = ordered_entries(site)
    top, rest = entries[:TOP_COUNT], entries[TOP_COUNT:]
    intro = esc(
        "Questions reviewers ask about harmful fine-tuning papers, each answered in a few sentences and backed by "
        "at least two papers in the knowledge base. The same answers are available offline with "
    ) + '<code>hftkb faq "your question"</code>.'.replace('"', "&quot;")
    content = (f'<h2 id="asked-first">Asked first</h2><ul class="hftkb-faq-list">{"".join(map(item, top))}</ul>'
               if top else "<p>No question has been answered yet.</p>")
    if rest:
        content += f'<h2 id="more-questions">More questions</h2><ul class="hftkb-faq-list">{"".join(map(item, rest))}</ul>'

    return f'---\ntitle: "Reviewer FAQ"\nhide:\n  - toc\n---\n\n<h1 id="faq">Reviewer FAQ</h1>\n<p>{intro}</p>\n{content}\n'


def faq_pages(site: SiteContext) -> dict[str, str]:
    pages = {"faq/index.md": index_page(site)}
    for entry in site.corpus.faq.values():
        pages[f"faq/{entry.id}.md"] = entry_page(site, entry)
    return pages
