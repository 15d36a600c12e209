"""An arXiv answer (hftkb.arxiv_client.ArxivPaper) + the contributor's options -> a new paper record (data).

What arXiv knows is taken as it is: title, authors, the v1 date (the record's `date` is the first public
appearance), the arXiv id, the DOI when the authors registered one, the abstract page as the paper link.
What arXiv does not know is the contributor's to give: kind, stage, tags, venue... The abstract is never
copied into `summary`: summaries are written in the project's own words (a `summary` the contributor
passes is checked against the abstract by `hftkb add`, hftkb.strict.copied_run).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from hftkb.arxiv_client import ArxivPaper
from hftkb.ids import make_paper_id, title_short_name


class RecordRefused(ValueError):
    """The answer cannot make a valid record (e.g. no title); the message says why, on one line."""


def venue_from_text(corpus: Any, text: str) -> tuple[str, int | None] | None:
    """'NeurIPS 2024', 'neurips:2024', 'ICLR' -> (venue id, year or None), through taxonomy/venues.yaml."""
    from hftkb.corpus import venue_key

    aliases = corpus.venue_aliases()
    spelling = text.strip()
    key = venue_key(spelling)
    if key in aliases:
        return aliases[key], None
    match = re.match(r"^(.*?)[\s:'_-]*((?:19|20)\d{2})$", spelling)
    if match and venue_key(match.group(1)) in aliases:
        return aliases[venue_key(match.group(1))], int(match.group(2))
    return None


def venue_hints(corpus: Any, comment: str | None) -> list[str]:
    """Venue spellings found in an arXiv comment ("Accepted by NeurIPS2024"): shown, never applied.

    Comments also say "Rejected by ICML2024", so choosing the venue stays the contributor's job.
    """
    if not comment:
        return []
    found = []
    for token in re.findall(r"[A-Za-z][A-Za-z&\-]*\s?'?(?:19|20)?\d{0,2}", comment):
        match = venue_from_text(corpus, token)
        if match and match[0] != "arxiv":
            found.append(token.strip())
    return list(dict.fromkeys(found))


def record_from_arxiv(
    answer: ArxivPaper,
    corpus: Any,
    taken: set[str],
    *,
    kind: str | None,
    stage: str | None = None,
    sub_family: str | None = None,
    attack_type: str | None = None,
    tags: list[str] | None = None,
    needs: list[str] | None = None,
    venue: dict[str, Any] | None = None,
    short_name: str | None = None,
    code_links: list[str] | None = None,
    summary: str | None = None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """The new record as plain data (validated by the caller). Raises RecordRefused."""
    today = today or dt.date.today()
    title = " ".join(answer.title.split())
    if not title:
        raise RecordRefused(f"arXiv's answer for {answer.arxiv_id} has no title; add this paper by hand")
    try:
        published = answer.published_date
    except ValueError:
        raise RecordRefused(f"arXiv's answer for {answer.arxiv_id} has no readable date; add this paper by hand") from None

    # As the list importer does: the name before the colon makes the id; it is the short name when it is
    # name-like (one or two words: "Vaccine", "Shadow Alignment"), not a phrase.
    head = short_name or title_short_name(title)
    short = short_name or (head if head and len(head.split()) <= 2 else None)
    paper_id = make_paper_id(title, published.year, head, taken)
    if venue is None and "arxiv" in corpus.taxonomy.get("venues", {}):
        venue = {"name": "arxiv", "track": "preprint"}  # a preprint's year is its date (as the list importer does)
    identifiers = {"arxiv": answer.arxiv_id}
    if answer.doi and re.match(r"^10\.\d{4,9}/\S+$", answer.doi):
        identifiers["doi"] = answer.doi
    links = [{"kind": "paper", "url": answer.abs_url}]
    links += [{"kind": "code", "url": url} for url in code_links or []]
    data: dict[str, Any] = {
        "id": paper_id,
        "title": title,
        "short_name": short,
        "authors": list(answer.authors),
        "date": published,
        "venue": venue,
        "kind": kind,
        "stage": stage,
        "sub_family": sub_family,
        "attack_type": attack_type,
        "tags": list(tags or []),
        "identifiers": identifiers,
        "links": links,
        "summary": " ".join(summary.split()) if summary else None,
        "needs": list(needs or []),
        "source": f"arXiv API {today.isoformat()}",
        "added": today,
    }
    return {key: value for key, value in data.items() if value not in (None, [], {})}
