"""Read the companion list (github.com/git-disl/awesome_LLM-harmful-fine-tuning-papers) into paper records.

The list is hand-edited Markdown. An entry looks like

    - [2024/2/2] **Vaccine: Perturbation-aware alignment ...** *NeurIPS2024* [[paper](https://arxiv.org/abs/2402.01109)] [[code](...)]

and the section it sits in gives its kind and stage. The parser is lenient where the meaning is clear and loud
where it is not:

* dates may be unpadded (`2024/2/2`); links come in two bracket styles (`[[paper](url)]` and `[[paper]](url)`)
  and sometimes lack their closing `)`; labels have typos (`Openriew`) and synonyms (`repo` = code);
* the venue may wrap onto the next line, so continuation lines are joined to their entry first;
* venues are normalised through taxonomy/venues.yaml (year, track and workshop name kept apart);
* arXiv, OpenReview and ACL Anthology ids are taken from the links;
* the same paper listed twice (same id, or same normalised title) becomes one record with both links;
* a line that looks like an entry but cannot be read is reported with its line number (E501), never dropped.

`sync-awesome` reuses `parse_awesome`, `merge_duplicates` and `plan_import`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass, field

from hftkb.corpus import Corpus, venue_key
from hftkb.ids import make_paper_id, normalise_title, title_short_name
from hftkb.models import Identifiers, Link, Paper, Venue
from hftkb.problems import Problem

# Section heading (normalised) -> (kind, stage, extra tags). Sections not listed hold no paper entries.
# The "Fine-tuning Stage Defenses" section does not say which of the survey's four sub-families an entry
# belongs to, so the importer leaves sub_family empty; curators set it with evidence.
SECTIONS: dict[str, tuple[str, str | None, tuple[str, ...]]] = {
    "attacks": ("attack", None, ()),
    "pre training stage defenses": ("defense", "pre_training", ()),
    "alignment stage defenses": ("defense", "alignment", ()),
    "fine tuning stage defenses": ("defense", "fine_tuning", ()),
    "post fine tuning stage defenses": ("defense", "post_fine_tuning", ()),
    "interpretability study": ("analysis", None, ()),
    "mechanical study": ("analysis", None, ()),
    "benchmark": ("benchmark", None, ()),
    "attacks and defenses for federated fine tuning": ("attack", None, ("federated",)),  # kind refined per title
}

# Link labels as written in the list (lowercased) -> Link.kind. Typos are matched to these by similarity.
LABELS = {
    "paper": "paper", "pdf": "paper", "arxiv": "paper", "code": "code", "repo": "code", "github": "code",
    "openreview": "openreview", "project": "project", "page": "project", "website": "project", "homepage": "project",
    "slides": "slides", "slide": "slides", "video": "video", "data": "data", "dataset": "data", "model": "model",
}

# Words in a title that reliably mark a topic tag (taxonomy/tags.yaml). Conservative on purpose.
TITLE_TAGS = [
    (r"\bfederated\b", "federated"),
    (r"\bvision\b|\bmulti-?modal\b|\bvllm\b|\bvision-language\b", "multimodal"),
    (r"\bdiffusion\b", "diffusion"),
    (r"\breinforcement learning\b|\brl\b|\brlhf\b|\breward\b|\bpreference optimi[sz]ation\b", "reinforcement_learning"),
    (r"\bunlearning\b", "unlearning"),
    (r"\blora\b|\bpeft\b|\blow-rank\b|\blow rank\b", "lora"),
    (r"\bagents?\b|\bagentic\b", "agents"),
    (r"\bmultilingual\b|\bnew language\b", "multilingual"),
    (r"\bmoe\b|\bmixture[- ]of[- ]experts\b", "moe"),
    (r"\bapis?\b", "fine_tuning_api"),
    (r"\bopen-weight\b|\bopen weight\b|\bopen-access\b|\bopen-sourced\b", "open_weight"),
    (r"\bmerg(e|ing)\b|\bfusion\b|\btask arithmetic\b", "model_merging"),
    (r"\bpruning\b", "pruning"),
    (r"\bsafety (neurons?|layers?|subspaces?)\b", "safety_neurons"),
    (r"\bcot\b|\breasoning\b", "reasoning"),
]

_ENTRY = re.compile(r"^\s*[-*]\s*\[\s*(?P<date>\d{4}/\d{1,2}/\d{1,2})\s*\]\s*(?P<rest>.*)$")
_LOOKS_LIKE_ENTRY = re.compile(r"^\s*[-*]\s*\[\s*\d")  # "- [2024..." even when the rest is broken
_TITLE = re.compile(r"^\*\*(?P<title>.+?)\*\*\s*(?P<rest>.*)$")
_VENUE = re.compile(r"^\*(?P<venue>[^*\[\]]+)\*\s*(?P<rest>.*)$")
# [[label](url)]  or  [[label]](url)  -- the closing ')' may be missing in either.
_LINK = re.compile(
    r"\[\[\s*(?P<label>[^\[\]()]+?)\s*\]"
    r"(?:\]\((?P<url1>[^)\s]+)\)?|\((?P<url2>[^)\s\]]+)\)?\]?)"
)
_ARXIV = re.compile(r"arxiv\.org/(?:abs|pdf|html)/(\d{4}\.\d{4,5})(?:v\d+)?", re.IGNORECASE)
_OPENREVIEW = re.compile(r"openreview\.net/(?:forum|pdf)\?id=([A-Za-z0-9_\-]+)")
_ACL = re.compile(r"aclanthology\.org/(\d{4}\.[a-z0-9\-]+\.\d+)(?:\.pdf)?/?$")


@dataclass
class Entry:
    """One paper as the list gives it (after merging: from one or more lines)."""

    lines: list[int]
    date: dt.date
    title: str
    section: str
    kind: str
    stage: str | None
    tags: list[str]
    venue: Venue | None
    venue_label: str | None
    links: list[Link] = field(default_factory=list)
    identifiers: dict[str, str] = field(default_factory=dict)


@dataclass
class ParseResult:
    entries: list[Entry]
    problems: list[Problem]
    list_date: dt.date | None  # "last update: 2025/10/28" in the list's header


def parse_awesome(text: str, where: str, venues: dict[str, str]) -> ParseResult:
    """Every dated entry of the list, in order; `venues` maps venue spellings (venue_key) to venue ids."""
    problems: list[Problem] = []
    entries: list[Entry] = []
    section: tuple[str, str, str | None, tuple[str, ...]] | None = None
    lines = text.splitlines()
    list_date = None
    header = re.search(r"last update:\s*(\d{4})/(\d{1,2})/(\d{1,2})", text)
    if header:
        list_date = dt.date(*map(int, header.groups()))

    index = 0
    while index < len(lines):
        line_no, line = index + 1, lines[index]
        index += 1
        heading = re.match(r"^\s*#{2,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            name = normalise_title(heading.group(1))
            section = (name, *SECTIONS[name]) if name in SECTIONS else None
            continue
        if section is None or not _LOOKS_LIKE_ENTRY.match(line):
            continue
        # Join continuation lines (a venue or links wrapped onto the next line).
        while index < len(lines) and lines[index].strip() and not re.match(r"^\s*([-*]\s|#)", lines[index]):
            line = f"{line.rstrip()} {lines[index].strip()}"
            index += 1
        entry = _parse_entry(line, line_no, section, where, venues, problems)
        if entry is not None:
            entries.append(entry)
    return ParseResult(entries, problems, list_date)


def _parse_entry(line: str, line_no: int, section: tuple, where: str, venues: dict[str, str], problems: list[Problem]) -> Entry | None:
    def report(code: str, message: str) -> None:
        problems.append(Problem(where, line_no, code, message))

    match = _ENTRY.match(line)
    if not match:
        report("E501", "entry without a [YYYY/M/D] date")
        return None
    try:
        date = dt.date(*map(int, match.group("date").split("/")))
    except ValueError as err:
        report("E501", f"impossible date [{match.group('date')}]: {err}")
        return None
    title_match = _TITLE.match(match.group("rest").strip())
    if not title_match:
        report("E501", "entry without a **bold title**")
        return None
    title = re.sub(r"\s+", " ", title_match.group("title")).strip()
    rest = title_match.group("rest")

    venue = venue_label = None
    venue_match = _VENUE.match(rest)
    if venue_match:
        venue_label = venue_match.group("venue").strip()
        venue = normalise_venue(venue_label, venues)
        if venue is None:
            report("E502", f"unknown venue '{venue_label}' (add the spelling to taxonomy/venues.yaml)")

    links: list[Link] = []
    identifiers: dict[str, str] = {}
    for link in _LINK.finditer(rest):
        label = link.group("label").strip()
        url = link.group("url1") or link.group("url2")
        kind = link_kind(label)
        if kind is None:
            report("E503", f"unknown link label '{label}' (kept as kind 'other')")
            kind = "other"
        if not re.match(r"^https?://", url):
            report("E501", f"link '{label}' is not an http(s) URL: {url}")
            continue
        if all(existing.url != url for existing in links):
            links.append(Link(kind=kind, url=url))
        for name, value in url_identifiers(url).items():
            identifiers.setdefault(name, value)
    if not links:
        report("E501", "entry without any [[label](url)] link")
        return None

    name, kind, stage, section_tags = section
    if name == "attacks and defenses for federated fine tuning":
        kind = _federated_kind(title)
    return Entry(
        lines=[line_no], date=date, title=title, section=name, kind=kind, stage=stage,
        tags=sorted(set(section_tags) | title_tags(title)), venue=venue, venue_label=venue_label,
        links=links, identifiers=identifiers,
    )


def _federated_kind(title: str) -> str:
    # The federated section mixes attacks, defenses and benchmarks; the title says which.
    lowered = title.lower()
    if "bench" in lowered:
        return "benchmark"
    if "attack" in lowered:
        return "attack"
    return "defense"


def link_kind(label: str) -> str | None:
    """Link.kind for a label as written: exact, then the closest known label (typos like 'Openriew')."""
    key = label.lower().strip()
    if key in LABELS:
        return LABELS[key]
    close = difflib.get_close_matches(key, list(LABELS), n=1, cutoff=0.75)
    return LABELS[close[0]] if close else None


def url_identifiers(url: str) -> dict[str, str]:
    """arXiv, OpenReview and ACL Anthology ids found in a URL."""
    found: dict[str, str] = {}
    if m := _ARXIV.search(url):
        found["arxiv"] = m.group(1)
    if m := _OPENREVIEW.search(url):
        found["openreview"] = m.group(1)
    if m := _ACL.search(url):
        found["acl"] = m.group(1)
    return found


def title_tags(title: str) -> set[str]:
    lowered = title.lower()
    return {tag for pattern, tag in TITLE_TAGS if re.search(pattern, lowered)}


def normalise_venue(label: str, venues: dict[str, str]) -> Venue | None:
    """'ACL2024 (Findings)' -> Venue(name='acl', year=2024, track='findings'); None when no venue is recognised."""
    text = label.strip()
    lowered = text.lower()
    year = None
    if m := re.search(r"(?<!\d)(\d{4,5})(?!\d)", text):
        digits = m.group(1)
        if len(digits) == 5 and digits.startswith("20"):
            digits = digits[:3] + digits[4]  # "ICLR20206" is a typo for ICLR2026 (the list dates from 2025)
        year = int(digits)
    elif m := re.search(r"(?<=[A-Za-z])(\d{2})(?!\d)", text):  # "AAAI25"
        year = 2000 + int(m.group(1))
    if year is not None and not 1990 <= year <= 2100:
        year = None

    # The venue: the longest known spelling that appears as a word in the label. Spellings are compared the way
    # venue_key stores them, without case, spaces or punctuation, so "N.A.A.C.L." and "Knowledge-Based Systems"
    # match too: any run of non-alphanumerics may sit between two letters of a spelling.
    best: tuple[int, str] | None = None
    for spelling, venue_id in venues.items():
        if not spelling:
            continue
        pattern = r"(?<![a-z])" + r"[^a-z0-9]*".join(re.escape(ch) for ch in spelling) + r"(?![a-z])"
        if re.search(pattern, lowered) and (best is None or len(spelling) > best[0]):
            best = (len(spelling), venue_id)
    if best is None:
        return None
    name = best[1]

    track = "main"
    note = None
    if "workshop" in lowered or "@" in text or name == "calcs":
        track, note = "workshop", text
    elif "findings" in lowered:
        track = "findings"
    elif "short" in lowered:
        track = "short"
    elif "submission" in lowered:
        track, note = "submission", text
    elif name in ("arxiv", "preprint"):
        track = "preprint"
    elif name in ("tmlr", "kbs", "csur", "nature", "tifs"):
        track = "journal"
    elif name == "technical_report":
        note = text
    elif re.search(r"-[A-Za-z]+$", text):  # "AAAI25-AIA": a special track
        note = text
    if name in ("arxiv", "preprint"):
        year = None  # the year of a preprint is the paper's date
    return Venue(name=name, year=year, track=track, note=note)


# ---------------------------------------------------------------------------------------------------------
# Duplicates and records


def merge_duplicates(entries: list[Entry], where: str) -> tuple[list[Entry], list[Problem]]:
    """One entry per paper: entries sharing an arXiv/OpenReview/ACL id or a normalised title are merged.

    The merged entry keeps every link, the earliest date, and the most informative venue (a real venue
    beats arXiv or 'preprint').
    """
    merged: list[Entry] = []
    index: dict[tuple[str, str], Entry] = {}
    problems: list[Problem] = []
    for entry in entries:
        keys = [(name, value.lower()) for name, value in entry.identifiers.items()]
        keys.append(("title", normalise_title(entry.title)))
        target = next((index[k] for k in keys if k in index), None)
        if target is None:
            merged.append(entry)
            target = entry
        else:
            for name, value in entry.identifiers.items():
                if target.identifiers.setdefault(name, value) != value:
                    problems.append(Problem(where, entry.lines[0], "E504", f"same paper as line {target.lines[0]} but a different {name} id ({value} vs {target.identifiers[name]}); kept the first"))
            target.lines.append(entry.lines[0])
            target.date = min(target.date, entry.date)
            for link in entry.links:
                if all(existing.url != link.url for existing in target.links):
                    target.links.append(link)
            target.tags = sorted(set(target.tags) | set(entry.tags))
            if entry.venue is not None and (target.venue is None or target.venue.name in ("arxiv", "preprint")):
                target.venue, target.venue_label = entry.venue, entry.venue_label
        for key in keys:
            index.setdefault(key, target)
        for name, value in target.identifiers.items():
            index.setdefault((name, value.lower()), target)
    return merged, problems


@dataclass
class ImportPlan:
    new: list[Paper] = field(default_factory=list)
    updated: list[Paper] = field(default_factory=list)  # existing records that gain links or identifiers
    unchanged: list[str] = field(default_factory=list)  # ids of existing records the list adds nothing to


def find_existing(corpus: Corpus, entry: Entry) -> Paper | None:
    """The record already in the corpus for this entry: same identifier, else same normalised title."""
    for paper in corpus.papers.values():
        ids = paper.identifiers.model_dump(exclude_none=True)
        if any(ids.get(name, "").lower() == value.lower() for name, value in entry.identifiers.items()):
            return paper
    title = normalise_title(entry.title)
    return next((p for p in corpus.papers.values() if normalise_title(p.title) == title), None)


def plan_import(corpus: Corpus, entries: list[Entry], source: str, added: dt.date) -> ImportPlan:
    """What importing `entries` into `corpus` changes. Curated fields of existing records are never touched:
    an existing record only gains the links and identifiers it lacks, so re-running changes nothing."""
    plan = ImportPlan()
    taken = set(corpus.papers) | set(corpus.failed_stems)
    for entry in entries:
        existing = find_existing(corpus, entry)
        if existing is not None:
            updated = _add_missing(existing, entry)
            if updated is None:
                plan.unchanged.append(existing.id)
            else:
                plan.updated.append(updated)
            continue
        paper = entry_to_paper(entry, source, added, taken)
        taken.add(paper.id)
        plan.new.append(paper)
    return plan


def entry_to_paper(entry: Entry, source: str, added: dt.date, taken: set[str]) -> Paper:
    head = title_short_name(entry.title)
    short_name = head if head and len(head.split()) <= 2 else None
    return Paper(
        id=make_paper_id(entry.title, entry.date.year, head, taken),
        title=entry.title,
        short_name=short_name,
        date=entry.date,
        venue=entry.venue,
        kind=entry.kind,
        stage=entry.stage,
        tags=entry.tags,
        identifiers=Identifiers(**entry.identifiers),
        links=entry.links,
        source=source,
        added=added,
    )


def _add_missing(paper: Paper, entry: Entry) -> Paper | None:
    links = list(paper.links)
    known = {link.url for link in links}
    links += [link for link in entry.links if link.url not in known]
    identifiers = paper.identifiers.model_dump(exclude_none=True)
    for name, value in entry.identifiers.items():
        identifiers.setdefault(name, value)
    if len(links) == len(paper.links) and identifiers == paper.identifiers.model_dump(exclude_none=True):
        return None
    return paper.model_copy(update={"links": links, "identifiers": Identifiers(**identifiers)})
