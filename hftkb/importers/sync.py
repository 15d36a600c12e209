"""Compare the companion list with the knowledge base: what the list has that the KB lacks, and what differs.

The list is read by the list importer (hftkb.importers.awesome: `parse_awesome`, `merge_duplicates`,
`find_existing`, `entry_to_paper`), so both commands understand every line the same way. For each paper the
list has:

* not in the knowledge base -> a new record (``--apply`` writes it);
* in it -> the differences that matter to a reader:
  - the venue, when the list now names a publication and the record still says arXiv, a preprint, a mere
    submission or nothing (``--apply`` takes the list's venue); any other disagreement about the venue is a
    *conflict*, reported and left to a curator (the record may have been corrected by hand);
  - links the record lacks (a new code link, an OpenReview page...); URLs are compared loosely, so an arXiv
    ``/pdf/`` link does not count as new next to the ``/abs/`` one;
  - identifiers the record lacks; a different id for the same kind is a conflict.

Titles are not compared: curators correct the list's typos in the records ("aginst"), and a report that
repeats those corrections on every run would hide the differences that matter.

Records that came from the list (``source: awesome-list ...``) but are no longer in it are listed; nothing is
ever deleted.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from hftkb.models import Identifiers, Link, Paper, Venue
from hftkb.problems import Problem

#: Venues that say "not (yet) published": the list naming a real venue for such a record is an update.
UNPUBLISHED_VENUES = ("arxiv", "preprint")


@dataclass
class Change:
    """One record the list says something new about."""

    paper_id: str
    list_line: int
    differences: list[str] = field(default_factory=list)  # applied by --apply
    conflicts: list[str] = field(default_factory=list)  # reported only
    updated: Paper | None = None  # the record after --apply; None when only conflicts


@dataclass
class SyncReport:
    new: list[tuple[int, Paper]] = field(default_factory=list)  # (list line, the record --apply would write)
    changed: list[Change] = field(default_factory=list)
    only_in_kb: list[str] = field(default_factory=list)  # ids of list-sourced records the list no longer has
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)  # lines of the list that could not be read

    @property
    def in_sync(self) -> bool:
        return not self.new and not any(change.differences for change in self.changed)


def url_key(url: str) -> str:
    """A URL for "same link?" comparisons: scheme, www, trailing slash, arXiv abs/pdf/version and .pdf ignored."""
    text = url.strip().lower()
    text = re.sub(r"^https?://(www\.)?", "", text).rstrip("/")
    text = re.sub(r"^(export\.)?arxiv\.org/(abs|pdf|html)/([^?#]+?)(v\d+)?(\.pdf)?$", r"arxiv.org/abs/\3", text)
    text = re.sub(r"^openreview\.net/(forum|pdf)\?id=", "openreview.net/forum?id=", text)
    return re.sub(r"\.pdf$", "", text)


def describe_venue(venue: Venue | None, names: dict[str, Any] | None = None) -> str:
    if venue is None:
        return "no venue"
    name = names[venue.name].name if names and venue.name in names else venue.name
    text = f"{name} {venue.year}" if venue.year else name
    return text if venue.track in ("main", "preprint") else f"{text} ({venue.track})"


def _venue_change(paper: Paper, listed: Venue | None) -> tuple[Venue | None, str | None]:
    """(venue to apply or None, conflict message or None) for the list's venue against the record's."""
    current = paper.venue
    if listed is None:
        return None, None
    if current is not None and (current.name, current.year, current.track) == (listed.name, listed.year, listed.track):
        return None, None
    if listed.name in UNPUBLISHED_VENUES:
        return None, None  # the list lags behind the record (or never knew better): nothing to say
    if current is None or current.name in UNPUBLISHED_VENUES or current.track == "submission":
        if current is not None and current.track == "submission" and listed.track == "submission" and current.name == listed.name:
            return None, None
        return listed, None
    return None, "venue"


def compare(corpus: Any, list_text: str, where: str, today: dt.date | None = None) -> SyncReport:
    """What the list (Markdown text) has that the knowledge base lacks, and what differs."""
    from hftkb.importers.awesome import entry_to_paper, find_existing, merge_duplicates, parse_awesome

    today = today or dt.date.today()
    venues = corpus.taxonomy.get("venues", {})
    parsed = parse_awesome(list_text, where, corpus.venue_aliases())
    entries, merge_problems = merge_duplicates(parsed.entries, where)
    report = SyncReport(problems=sorted(parsed.problems + merge_problems))
    source = f"awesome-list {(parsed.list_date or today).isoformat()}"
    taken = set(corpus.papers) | set(corpus.failed_stems)
    seen: set[str] = set()

    for entry in entries:
        line = entry.lines[0]
        paper = find_existing(corpus, entry)
        if paper is None:
            try:
                new = entry_to_paper(entry, source, today, taken)
            except ValueError as err:  # pydantic's ValidationError is a ValueError
                report.problems.append(Problem(where, line, "E501", f"cannot make a record of this entry: {err}".splitlines()[0]))
                continue
            taken.add(new.id)
            seen.add(new.id)
            report.new.append((line, new))
            continue
        seen.add(paper.id)
        change = Change(paper.id, line)
        update: dict[str, Any] = {}

        venue, conflict = _venue_change(paper, entry.venue)
        if venue is not None:
            change.differences.append(f"venue: {describe_venue(paper.venue, venues)} -> {describe_venue(venue, venues)}")
            update["venue"] = venue
        elif conflict:
            change.conflicts.append(
                f"venue: the record says {describe_venue(paper.venue, venues)}, the list says "
                f"{describe_venue(entry.venue, venues)} (not applied: check and edit by hand)"
            )

        known = {url_key(link.url) for link in paper.links}
        new_links = []
        for link in entry.links:
            if url_key(link.url) not in known:
                known.add(url_key(link.url))
                new_links.append(link)
                change.differences.append(f"new {link.kind} link: {link.url}")
        if new_links:
            update["links"] = [*paper.links, *[Link(kind=l.kind, url=l.url) for l in new_links]]

        identifiers = paper.identifiers.model_dump(exclude_none=True)
        for name, value in entry.identifiers.items():
            if name not in identifiers:
                identifiers[name] = value
                change.differences.append(f"new identifier: {name} {value}")
            elif identifiers[name].lower() != value.lower():
                change.conflicts.append(f"{name}: the record says {identifiers[name]}, the list links {value} (not applied)")
        if identifiers != paper.identifiers.model_dump(exclude_none=True):
            update["identifiers"] = Identifiers(**identifiers)

        if update:
            update["updated"] = max(today, paper.added)
            change.updated = paper.model_copy(update=update)
        if change.differences or change.conflicts:
            report.changed.append(change)
        else:
            report.unchanged += 1

    report.only_in_kb = sorted(
        paper_id for paper_id, paper in corpus.papers.items()
        if paper_id not in seen and (paper.source or "").startswith("awesome-list")
    )
    return report
