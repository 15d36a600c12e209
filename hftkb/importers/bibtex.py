"""BibTeX entries -> new paper records (plain data, validated by the caller through hftkb.importers.staging).

Reading is bibtexparser 2.x. It never raises on a broken file: unparsable blocks and repeated keys land in
`library.failed_blocks`, and each becomes a problem with its line here, while the good
entries are still imported. Values are LaTeX-decoded (``{\\"u}`` -> ``ü``, protective braces dropped) with the
decoder of hftkb.bibtex, the exact inverse of what `hftkb export-bib` writes, so export -> import -> export
gives the same text.

What a record needs and BibTeX has no field for:

* ``kind`` (required by the model): from ``--kind``, else a ``keywords`` entry naming a term of
  taxonomy/kinds.yaml; an entry with neither is refused with a message saying so;
* ``date`` (first public appearance): a biblatex ``date`` field when there is one; otherwise the month of the
  arXiv id (``2402.01109`` -> 2024-02) or ``year``/``month``, on the first of the month. A guessed day is
  reported as a note so the contributor can correct it.

The entry key becomes the record id when it already follows the project's scheme (``vaccine-2024``);
other keys (``huang2024vaccine``) get a new id from `hftkb.ids.make_paper_id`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from hftkb.bibtex import MONTHS, PREPRINT_VENUES, TECH_REPORT_VENUE, decode_latex, parse_booktitle, venue_of_proceedings
from hftkb.ids import make_paper_id, title_short_name
from hftkb.problems import Problem

#: Problem codes of BibTeX input (the file being imported, not a record of the knowledge base).
BIB_CODES = {
    "B101": "BibTeX block that could not be parsed (the entry is skipped)",
    "B102": "BibTeX key used twice (the second entry is skipped)",
    "B103": "entry without a title",
    "B104": "entry without a usable year or date",
    "B105": "no kind: pass --kind or add a kinds term to the entry's keywords",
    "B106": "paper already in the knowledge base (skipped)",
    "B107": "the same paper twice in the file (the second is skipped)",
    "B108": "LaTeX in a value could not be decoded",
}

#: Ids in the project's scheme: words, the year, an optional letter for a second paper of the same name.
SCHEME_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*-(?:19|20)\d{2}(?:-[b-z])?$")
_ARXIV_ID = re.compile(r"(?<![\d.])(\d{4}\.\d{4,5})(?:v\d+)?(?!\d)")
_MONTH_NAMES = {name: index + 1 for index, name in enumerate(MONTHS)}


@dataclass
class BibRecord:
    """One entry turned into record data, with where it came from and what was guessed."""

    key: str
    line: int
    data: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def parse_bib(text: str, where: str) -> tuple[list[Any], list[Problem]]:
    """(bibtexparser entries, problems for the blocks that failed). Never raises on bad BibTeX."""
    import bibtexparser
    from bibtexparser.model import DuplicateBlockKeyBlock

    # bibtexparser logs each failed block as a warning; the problems below say it with the line instead.
    logger = logging.getLogger("bibtexparser")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        library = bibtexparser.parse_string(text)
    finally:
        logger.setLevel(level)
    problems = []
    for block in library.failed_blocks:
        line = (block.start_line or 0) + 1
        if isinstance(block, DuplicateBlockKeyBlock):
            first = getattr(block.previous_block, "start_line", None)
            where_first = f" (first on line {first + 1})" if first is not None else ""
            problems.append(Problem(where, line, "B102", f"key '{block.key}' is used twice{where_first}; this entry is skipped"))
            continue
        reason = getattr(block.error, "abort_reason", None) or str(block.error) or type(block.error).__name__
        head = (block.raw or "").strip().splitlines()[0][:60] if block.raw else ""
        problems.append(Problem(where, line, "B101", f"cannot parse '{head}': {' '.join(reason.split())}"))
    return library.entries, problems


def _value(entry: Any, name: str) -> str | None:
    """A field's raw value (LaTeX still encoded), case-insensitively; None when absent or blank."""
    for key, value in entry.fields_dict.items():
        if key.lower() == name and isinstance(value.value, str) and value.value.strip():
            return value.value.strip()
    return None


class LatexError(ValueError):
    """A field whose LaTeX cannot be turned into trustworthy text (B108)."""


def check_braces(raw: str, field_name: str) -> None:
    """Unbalanced braces (escaped \\{ and \\} aside): pylatexenc and the name splitter both drop them silently."""
    depth = 0
    for match in re.finditer(r"\\.|[{}]", raw):
        depth += {"{": 1, "}": -1}.get(match.group(), 0)
        if depth < 0:
            raise LatexError(f"{field_name}: a '}}' closes a brace that was never opened")
    if depth:
        raise LatexError(f"{field_name}: {depth} brace(s) opened and never closed")


def decode_checked(raw: str, field_name: str) -> str:
    """decode_latex, refusing what it would silently garble: pylatexenc never raises, but on broken LaTeX it
    returns an empty string, a lone accent or a '%s' left over from a macro with missing arguments, and such a
    value must not reach a record."""
    import unicodedata

    check_braces(raw, field_name)
    text = decode_latex(raw)
    if "%s" in text and "%s" not in raw:
        raise LatexError(f"{field_name}: a LaTeX command lacks its arguments ({raw!r})")
    if any(unicodedata.combining(ch) and (i == 0 or text[i - 1].isspace()) for i, ch in enumerate(text)):
        raise LatexError(f"{field_name}: an accent command has no letter to sit on ({raw!r})")
    if not text and re.search(r"\w", raw):
        raise LatexError(f"{field_name}: {raw!r} decodes to nothing")
    return text


def _text(entry: Any, name: str) -> str | None:
    raw = _value(entry, name)
    return decode_checked(raw, name) if raw is not None else None


def bib_authors(raw: str) -> list[str]:
    """'Müller, J{\\'o}zef and Ann Smith and others' -> ['Józef Müller', 'Ann Smith'] ('Given Family' order)."""
    from bibtexparser.middlewares.names import InvalidNameError, parse_single_name_into_parts, split_multiple_persons_names

    check_braces(raw, "author")
    authors = []
    for name in split_multiple_persons_names(raw):
        if name.strip().lower() == "others":
            continue  # "and others": BibTeX's et al.
        try:
            merged = parse_single_name_into_parts(name, strict=False).merge_first_name_first
        except InvalidNameError:
            merged = name
        text = decode_checked(merged, "author")
        if text:
            authors.append(text)
    return authors


def _arxiv_id(entry: Any) -> str | None:
    """The arXiv id from eprint (when archivePrefix is arXiv or missing), or from journal/howpublished/url."""
    eprint = _value(entry, "eprint")
    prefix = (_value(entry, "archiveprefix") or _value(entry, "eprinttype") or "arxiv").lower()
    if eprint and prefix == "arxiv":
        match = _ARXIV_ID.search(eprint) or re.match(r"^([a-z\-]+(?:\.[A-Z]{2})?/\d{7})", eprint)
        if match:
            return match.group(1)
    for name in ("journal", "howpublished", "url", "note"):
        value = _value(entry, name) or ""
        if "arxiv" in value.lower():
            match = _ARXIV_ID.search(value)
            if match:
                return match.group(1)
    return None


def _doi(entry: Any) -> str | None:
    raw = _value(entry, "doi")
    if not raw:
        return None
    doi = re.sub(r"^(?:https?://(?:dx\.)?doi\.org/|doi:)", "", raw.strip(), flags=re.IGNORECASE)
    return doi.replace("\\_", "_") if re.match(r"^10\.\d{4,9}/\S+$", doi) else None


def _month(raw: str | None) -> int | None:
    if not raw:
        return None
    text = raw.strip().lower().strip("{}")
    if text.isdigit() and 1 <= int(text) <= 12:
        return int(text)
    return _MONTH_NAMES.get(text[:3])


def bib_date(entry: Any, arxiv_id: str | None) -> tuple[dt.date | None, bool]:
    """(first public date, whether the day or month was guessed), or (None, False) without a year."""
    raw_date = _value(entry, "date")
    if raw_date:
        match = re.match(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", raw_date)
        if match:
            year, month, day = match.group(1), match.group(2), match.group(3)
            try:
                return dt.date(int(year), int(month or 1), int(day or 1)), day is None
            except ValueError:
                pass
    year_text = _value(entry, "year") or ""
    year_match = re.search(r"(?:19|20)\d{2}", year_text)
    year = int(year_match.group(0)) if year_match else None
    month = _month(_value(entry, "month"))
    arxiv_date = None
    if arxiv_id and re.match(r"^\d{4}\.", arxiv_id) and 1 <= int(arxiv_id[2:4]) <= 12:
        arxiv_date = dt.date(2000 + int(arxiv_id[:2]), int(arxiv_id[2:4]), 1)  # new-style ids exist since 2007
    # The record's date is the *first* appearance: the arXiv id's month when the paper was on arXiv by the
    # entry's year (an arXiv version usually precedes the venue), else the entry's year and month.
    # A preprint's month (@misc, as `export-bib` writes it) is its appearance; a published paper's month is
    # the venue's, so an earlier arXiv month wins there.
    preprint = entry.entry_type.lower() in ("misc", "techreport", "unpublished", "online")
    if year is not None and month is not None and (preprint or arxiv_date is None):
        return dt.date(year, month, 1), True
    if arxiv_date is not None and (year is None or arxiv_date.year <= year):
        return arxiv_date, True
    if year is not None:
        return dt.date(year, month or 1, 1), True
    return None, False


def _venue_id(corpus: Any, text: str) -> str | None:
    """A venue id for a booktitle/journal/institution name, through taxonomy/venues.yaml; None when unknown."""
    from hftkb.corpus import venue_key

    aliases = corpus.venue_aliases()
    if venue_key(text) in aliases:
        return aliases[venue_key(text)]
    stripped = re.sub(r"\b(?:19|20)\d{2}\b|'\d{2}\b", " ", text)  # years: "NeurIPS 2024", "ICLR '25"
    stripped = re.sub(r"^\s*(?:proceedings of (?:the )?)?(?:\d+(?:st|nd|rd|th)\s+)?", "", stripped, flags=re.IGNORECASE)
    if venue_key(stripped) in aliases:
        return aliases[venue_key(stripped)]
    # The long name, as the taxonomy describes it, inside the text: "The Thirty-eighth Annual Conference on
    # Neural Information Processing Systems" holds "Conference on Neural Information Processing Systems".
    best = None
    for venue in corpus.taxonomy.get("venues", {}).values():
        long_name = venue_key(re.sub(r"\s*\(.*?\)\s*|\.$", "", venue.description or ""))
        if len(long_name) >= 15 and long_name in venue_key(stripped) and (best is None or len(long_name) > best[0]):
            best = (len(long_name), venue.id)
    if best is not None:
        return best[1]
    try:  # a short label inside a longer name: "Findings of the ACL: EMNLP 2024" (the list importer's matcher)
        from hftkb.importers.awesome import normalise_venue

        found = normalise_venue(text, aliases)
        return found.name if found is not None else None
    except ImportError:  # pragma: no cover - the list importer ships with the package
        return None


def bib_venue(entry: Any, corpus: Any, arxiv_id: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """(venue data or None, a note when a venue was named but is not in the taxonomy)."""
    entry_type = entry.entry_type.lower()
    year_match = re.search(r"(?:19|20)\d{2}", _value(entry, "year") or "")
    year = int(year_match.group(0)) if year_match else None
    note = _text(entry, "note")

    if entry_type in ("inproceedings", "conference", "incollection", "proceedings"):
        booktitle = _text(entry, "booktitle")
        if not booktitle:
            return None, None
        name, track, workshop_note = parse_booktitle(booktitle)
        # A full proceedings name of taxonomy/venues.yaml ("The Thirteenth International Conference on ...").
        full = venue_of_proceedings(booktitle, corpus.taxonomy.get("venues", {}))
        venue_id = full[0] if full else _venue_id(corpus, name)
        if track == "main" and "workshop" in booktitle.lower():
            track, workshop_note = "workshop", booktitle
        if venue_id is None:
            return None, f"venue '{booktitle}' is not in taxonomy/venues.yaml; left out (add it, or the spelling as an alias)"
        venue = {"name": venue_id, "year": year, "track": track}
        venue["note"] = workshop_note if track == "workshop" else note
        return venue, None
    if entry_type == "article":
        journal = _text(entry, "journal") or ""
        if "arxiv" in journal.lower() or not journal:
            return ({"name": "arxiv", "track": "preprint", "note": note} if arxiv_id else None), None
        full = venue_of_proceedings(journal, corpus.taxonomy.get("venues", {}))
        venue_id = full[0] if full else _venue_id(corpus, journal)
        if venue_id is None:
            return None, f"journal '{journal}' is not in taxonomy/venues.yaml; left out (add it, or the spelling as an alias)"
        return {"name": venue_id, "year": year, "track": "journal", "note": note}, None
    if entry_type == "techreport":
        return {"name": TECH_REPORT_VENUE, "note": _text(entry, "institution") or note}, None
    # @misc, @unpublished, @online...: a preprint, possibly under review somewhere.
    if note and re.search(r"submi|under review", note, flags=re.IGNORECASE):
        venue_id = _venue_id(corpus, re.sub(r"(?i)submitted to|submission|under review at", " ", note))
        if venue_id is not None and venue_id not in PREPRINT_VENUES:
            submitted_year = re.search(r"(?:19|20)\d{2}", note)
            venue = {"name": venue_id, "track": "submission", "note": note}
            if submitted_year:
                venue["year"] = int(submitted_year.group(0))
            return venue, None
    if arxiv_id:
        return {"name": "arxiv", "track": "preprint", "note": note}, None
    if note:
        return {"name": "preprint", "track": "preprint", "note": note}, None
    return None, None


def _terms(corpus: Any, vocabulary: str) -> dict[str, str]:
    """Every spelling of every term of a vocabulary (id, name, aliases; normalised) -> term id."""
    from hftkb.corpus import venue_key

    table: dict[str, str] = {}
    for term in corpus.taxonomy.get(vocabulary, {}).values():
        for spelling in [term.id, term.name, *term.aliases]:
            table.setdefault(venue_key(spelling), term.id)
    return table


def keyword_terms(corpus: Any, keywords: str | None) -> dict[str, list[str]]:
    """Taxonomy terms named in a keywords field: {'kinds': [...], 'stages': [...], 'tags': [...]}."""
    from hftkb.corpus import venue_key

    found: dict[str, list[str]] = {"kinds": [], "stages": [], "tags": []}
    if not keywords:
        return found
    tables = {vocabulary: _terms(corpus, vocabulary) for vocabulary in found}
    for word in re.split(r"[,;]", keywords):
        key = venue_key(word)
        for vocabulary, table in tables.items():
            if key and key in table and table[key] not in found[vocabulary]:
                found[vocabulary].append(table[key])
    return found


def bib_record(
    entry: Any,
    corpus: Any,
    taken: set[str],
    where: str,
    *,
    kind: str | None = None,
    stage: str | None = None,
    tags: list[str] | None = None,
    today: dt.date | None = None,
) -> tuple[BibRecord | None, list[Problem]]:
    """One BibTeX entry -> (BibRecord, []) or (None, problems). Duplicates against the KB are the caller's."""
    today = today or dt.date.today()
    line = (entry.start_line or 0) + 1

    def refuse(code: str, message: str) -> tuple[None, list[Problem]]:
        return None, [Problem(where, line, code, f"{entry.key}: {message}")]

    try:
        title = _text(entry, "title")
        authors = bib_authors(_value(entry, "author") or "")
    except LatexError as err:
        return refuse("B108", f"cannot decode the LaTeX of {err}")
    except Exception as err:  # pylatexenc on pathological input
        return refuse("B108", f"cannot decode the LaTeX: {err}")
    if not title:
        return refuse("B103", "no title")
    arxiv_id = _arxiv_id(entry)
    date, guessed = bib_date(entry, arxiv_id)
    if date is None:
        return refuse("B104", "no year or date")
    notes = []
    if guessed:
        notes.append(f"date set to {date.isoformat()} from the year/month or arXiv id; correct the day if you know it")

    keywords = keyword_terms(corpus, _text(entry, "keywords"))
    kind = kind or (keywords["kinds"][0] if keywords["kinds"] else None)
    if kind is None:
        return refuse("B105", "no kind: pass --kind (e.g. --kind defense) or add a kind such as 'defense' to keywords")
    stage = stage or (keywords["stages"][0] if keywords["stages"] else None)
    venue, venue_note = bib_venue(entry, corpus, arxiv_id)
    if venue_note:
        notes.append(venue_note)

    identifiers: dict[str, str] = {}
    if arxiv_id:
        identifiers["arxiv"] = arxiv_id
    doi = _doi(entry)
    if doi:
        identifiers["doi"] = doi
    links = []
    url = _value(entry, "url")
    if url:
        url = re.sub(r"^\\url\{(.*)\}$", r"\1", url).replace("%7B", "{").replace("%7D", "}")
        if re.match(r"^https?://\S+$", url):
            links.append({"kind": "paper", "url": url})
            try:
                from hftkb.importers.awesome import url_identifiers

                for name, value in url_identifiers(url).items():
                    identifiers.setdefault(name, value)
            except ImportError:  # pragma: no cover
                pass

    head = title_short_name(title)  # as the list importer: the id's first part; a short name if name-like
    key = entry.key.strip()
    if SCHEME_ID.match(key) and key not in taken:
        paper_id = key
    else:
        paper_id = make_paper_id(title, date.year, head, taken)
        if key != paper_id:
            notes.append(f"key '{key}' became id '{paper_id}' (the project's id scheme)")
    data: dict[str, Any] = {
        "id": paper_id,
        "title": title,
        "short_name": head if head and len(head.split()) <= 2 else None,
        "authors": authors,
        "date": date,
        "venue": {k: v for k, v in venue.items() if v is not None} if venue else None,
        "kind": kind,
        "stage": stage,
        "tags": list(dict.fromkeys([*(tags or []), *keywords["tags"]])),
        "identifiers": identifiers,
        "links": links,
        "source": f"BibTeX import {today.isoformat()}",
        "added": today,
    }
    data = {k: v for k, v in data.items() if v not in (None, [], {})}
    return BibRecord(key=entry.key, line=line, data=data, notes=notes), []
