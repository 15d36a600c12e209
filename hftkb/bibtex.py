"""BibTeX out of paper records, and the small inverse helpers the BibTeX importer needs.

One entry per paper, key = record id (ACL Anthology habit: the citation key is the stable id). The text is
written with bibtexparser 2.x and is deterministic: fixed field order, fixed layout, entries in the order given
(`papers_to_bibtex` sorts them by id), so `hftkb export-bib` can be diffed and round-tripped.

Entry type from the venue:

* no venue, the ``arxiv`` or ``preprint`` venue, the ``preprint`` track, or a paper only *submitted* to a venue
  (track ``submission``) -> ``@misc`` (arXiv style: ``eprint`` + ``archivePrefix`` for BibTeX styles and
  ``eprinttype`` for biblatex, and the month of first appearance; a submission says where in ``note``; a paper
  with no arXiv id says where it can be read in ``howpublished``, e.g. OpenReview, next to its ``url``);
* the ``technical_report`` venue -> ``@techreport`` (the venue note, e.g. the lab, as ``institution``);
* the ``journal`` track -> ``@article`` with ``journal``;
* every other track -> ``@inproceedings`` with a ``booktitle`` built from the venue's display name
  (see `booktitle_for` / `parse_booktitle`, which are exact inverses of each other).

Full names (ACL Anthology / DBLP style). When taxonomy/venues.yaml gives the venue's `proceedings` for the year,
the main track's booktitle is that full name ("The Thirteenth International Conference on Learning
Representations"), a Findings paper's is the ACL Anthology's "Findings of the Association for Computational
Linguistics: ACL 2024", and the short name with the year stays in ``eventtitle`` (biblatex's field for the
event: "ICLR 2025"). Without proceedings for the year, the venue's `full_name` is used, else its display name.
A journal's ``journal`` is its `full_name` when there is one, with the display name in ``shortjournal``.
`venue_of_proceedings` maps a full name back to its venue, for the BibTeX importer.

So every entry can be cited: author (when the record has authors: `validate --strict` flags a record without),
title, year, and a booktitle, journal, eprint or (for @misc without an arXiv id) howpublished.

Text values are LaTeX-encoded (``&`` -> ``\\&``, ``é`` -> ``{\\'e}``...); words with inner capitals in titles
(``LoRA``, ``LLMs``) are wrapped in braces so bibliography styles do not lowercase them. URLs are written as
they are (biblatex and the url package read them verbatim).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    from hftkb.models import Paper, Term

#: Field order of every written entry (fields a paper lacks are skipped).
FIELD_ORDER = (
    "author",
    "title",
    "booktitle",
    "eventtitle",
    "journal",
    "shortjournal",
    "institution",
    "howpublished",
    "year",
    "month",
    "note",
    "doi",
    "eprint",
    "archivePrefix",
    "eprinttype",
    "url",
)

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")

#: The ASCII characters LaTeX treats specially, with their text-mode spelling. ``<``/``>`` are left alone:
#: they print correctly with T1 fonts, and ``\\ensuremath{<}`` in a title helps nobody.
_ASCII_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}

# Suffixes that make the booktitle of a non-main track (ACL Anthology conventions where there is one).
_FINDINGS_PREFIX = "Findings of "
_ACL_FINDINGS = "Findings of the Association for Computational Linguistics: "
_WORKSHOP_SUFFIX = " Workshop"
_SHORT_SUFFIX = " (Short Papers)"
_DEMO_SUFFIX = " (Demonstrations)"


# ---------------------------------------------------------------------------------------------------------
# LaTeX encoding and decoding


@lru_cache(maxsize=1)
def _encoder():
    from pylatexenc.latexencode import UnicodeToLatexEncoder

    return UnicodeToLatexEncoder(
        non_ascii_only=True,
        replacement_latex_protection="none",  # braces are added around each character below
        unknown_char_policy="keep",  # CJK and the like stay as UTF-8 (biber and modern BibTeX read it)
        unknown_char_warning=False,
    )


def encode_latex(text: str) -> str:
    """Plain Unicode text -> LaTeX that prints it, for a BibTeX field value."""
    out = []
    for char in text:
        if char in _ASCII_SPECIALS:
            out.append(_ASCII_SPECIALS[char])
        elif ord(char) > 127:
            latex = _encoder().unicode_to_latex(char)
            # {\'e}: BibTeX sorts and purifies a braced accent right, and a macro cannot eat the next letter.
            out.append(latex if latex == char else "{" + latex.strip() + "}")
        else:
            out.append(char)
    return "".join(out)


@lru_cache(maxsize=1)
def _decoder():
    import logging

    from pylatexenc import latex2text

    # pylatexenc logs "WARNING: Error in configuration" for a macro it cannot expand and carries on; the importer
    # reports such a value itself (B108), in the file:line form, so the library's own log line is noise.
    logging.getLogger("pylatexenc").setLevel(logging.ERROR)
    from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec

    context = latex2text.get_default_latex_context_db()
    context.add_context_category(
        "hftkb-bibtex",
        prepend=True,
        macros=[
            MacroTextSpec("url", simplify_repl="%s"),
            # pylatexenc renders these as look-alike Unicode modifiers; BibTeX files mean the ASCII ones.
            MacroTextSpec("textasciicircum", simplify_repl="^"),
            MacroTextSpec("textasciitilde", simplify_repl="~"),
            MacroTextSpec("textbackslash", simplify_repl="\\"),
        ],
    )
    return LatexNodes2Text(latex_context=context, math_mode="verbatim", keep_braced_groups=False)


def decode_latex(value: str) -> str:
    """A BibTeX field value -> plain Unicode text (accents decoded, protective braces removed)."""
    text = _decoder().latex_to_text(value)
    # A '~' in BibTeX is a non-breaking space; line breaks inside a field are plain spaces.
    return " ".join(text.replace("\u00a0", " ").split())


def _protect_capitals(plain_title: str) -> str:
    """Encode a title, wrapping words with a capital after their first letter in braces (``{LoRA}``)."""
    words = []
    for word in plain_title.split(" "):
        encoded = encode_latex(word)
        if any(char.isupper() for char in word[1:]):
            encoded = "{" + encoded + "}"
        words.append(encoded)
    return " ".join(words)


def _encode_person(name: str) -> str:
    """One 'Given Family' name; braced as a whole when a comma or the word 'and' would split it wrongly."""
    encoded = encode_latex(name)
    if "," in name or re.search(r"\band\b", name, flags=re.IGNORECASE):
        encoded = "{" + encoded + "}"
    return encoded


# ---------------------------------------------------------------------------------------------------------
# Venue <-> booktitle


def venue_display_name(venue_key: str, venues: Mapping[str, Any] | None) -> str:
    """The venue's display name from taxonomy/venues.yaml (a Term or a plain string); the key otherwise."""
    if venues and venue_key in venues:
        term = venues[venue_key]
        return term if isinstance(term, str) else term.name
    return venue_key


def _term(venue_key: str, venues: Mapping[str, Any] | None) -> Any:
    term = venues.get(venue_key) if venues else None
    return None if term is None or isinstance(term, str) else term


def citation_name(venue_key: str, year: int | None, venues: Mapping[str, Any] | None) -> str:
    """The full name a citation gives the venue: that year's proceedings, else its full name, else its display name."""
    term = _term(venue_key, venues)
    if term is not None:
        proceedings = getattr(term, "proceedings", None) or {}
        if year is not None and str(year) in proceedings:
            return proceedings[str(year)]
        if getattr(term, "full_name", None):
            return term.full_name
    return venue_display_name(venue_key, venues)


def findings_booktitle(name: str, year: int | None) -> str:
    """The ACL Anthology's name of a Findings volume: 'Findings of the Association for Computational Linguistics: ACL 2024'."""
    return f"{_ACL_FINDINGS}{name}" + (f" {year}" if year else "")


def venue_of_proceedings(booktitle: str, venues: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """(venue id, track) of a booktitle that is one of the taxonomy's full proceedings names, else None."""
    from hftkb.corpus import venue_key as spelling_key

    wanted = spelling_key(booktitle)
    for venue_id, term in (venues or {}).items():
        if isinstance(term, str):
            continue
        names = list((getattr(term, "proceedings", None) or {}).values())
        if getattr(term, "full_name", None):
            names.append(term.full_name)
        if any(spelling_key(name) == wanted for name in names):
            return venue_id, "main"
    return None


def booktitle_for(name: str, track: str, note: str | None) -> str:
    """The booktitle of an @inproceedings entry for a venue display name and track."""
    if track == "findings":
        return _FINDINGS_PREFIX + name
    if track == "workshop":
        return name + _WORKSHOP_SUFFIX + (f": {note}" if note else "")
    if track == "short":
        return name + _SHORT_SUFFIX
    if track == "demo":
        return name + _DEMO_SUFFIX
    return name


def parse_booktitle(booktitle: str) -> tuple[str, str, str | None]:
    """Inverse of `booktitle_for`: ``(venue name, track, workshop note)``.

    Anything that is not one of the shapes `booktitle_for` writes comes back as the main track, so a
    booktitle from another tool still yields its venue name for the taxonomy lookup.
    """
    text = booktitle.strip()
    match = re.match(re.escape(_ACL_FINDINGS) + r"(.+?)(?: (?:19|20)\d{2})?$", text)
    if match:
        return match.group(1).strip(), "findings", None
    if text.startswith(_FINDINGS_PREFIX):
        return text[len(_FINDINGS_PREFIX) :].strip(), "findings", None
    match = re.match(r"^(.*?)" + re.escape(_WORKSHOP_SUFFIX) + r"(?:: (.+))?$", text)
    if match and match.group(1):
        return match.group(1).strip(), "workshop", match.group(2)
    for suffix, track in ((_SHORT_SUFFIX, "short"), (_DEMO_SUFFIX, "demo")):
        if text.endswith(suffix):
            return text[: -len(suffix)].strip(), track, None
    return text, "main", None


# ---------------------------------------------------------------------------------------------------------
# Records -> entries


#: Venues that are no publication: a paper there is cited as @misc.
PREPRINT_VENUES = ("arxiv", "preprint")
TECH_REPORT_VENUE = "technical_report"


def entry_type_for(paper: Paper) -> str:
    venue = paper.venue
    if venue is None or venue.name in PREPRINT_VENUES or venue.track in ("preprint", "submission"):
        return "misc"
    if venue.name == TECH_REPORT_VENUE:
        return "techreport"
    if venue.track == "journal":
        return "article"
    return "inproceedings"


def submission_note(name: str, year: int | None) -> str:
    """The note of a paper under review (track 'submission') that has no note of its own."""
    return f"Submitted to {name}" + (f" {year}" if year else "")


def paper_url(paper: Paper) -> str | None:
    """The URL a reader of the bibliography should follow: the paper link, else one built from an id.

    The arXiv id needs no URL (``eprint`` says it); OpenReview and ACL Anthology ids do.
    """
    for link in paper.links:
        if link.kind == "paper":
            return link.url
    if paper.identifiers.openreview:
        return f"https://openreview.net/forum?id={paper.identifiers.openreview}"
    if paper.identifiers.acl:
        return f"https://aclanthology.org/{paper.identifiers.acl}"
    return None


def paper_fields(paper: Paper, venues: Mapping[str, Any] | None = None) -> tuple[str, dict[str, str]]:
    """``(entry type, {field: value})`` for one paper, values already LaTeX-encoded, in FIELD_ORDER."""
    entry_type = entry_type_for(paper)
    venue = paper.venue
    fields: dict[str, str] = {}
    if paper.authors:
        fields["author"] = " and ".join(_encode_person(name) for name in paper.authors)
    fields["title"] = _protect_capitals(paper.title)
    year = paper.date.year
    note = venue.note if venue is not None and venue.track != "workshop" else None
    if venue is not None and entry_type in ("article", "inproceedings"):
        name = venue_display_name(venue.name, venues)
        year = venue.year or year
        full = citation_name(venue.name, year, venues)
        if entry_type == "article":
            fields["journal"] = encode_latex(full)
            if full != name:
                fields["shortjournal"] = encode_latex(name)
        elif full != name and venue.track in ("main", "findings"):
            # The full proceedings name, the short one kept for styles that print the event (biblatex).
            has_year = str(year) in (getattr(_term(venue.name, venues), "proceedings", None) or {})
            if venue.track == "findings":
                fields["booktitle"] = encode_latex(findings_booktitle(name, year) if has_year else _FINDINGS_PREFIX + full)
            else:
                fields["booktitle"] = encode_latex(full)
            fields["eventtitle"] = encode_latex(f"{name} {year}")
        else:
            fields["booktitle"] = encode_latex(booktitle_for(name, venue.track, venue.note))
    elif entry_type == "techreport" and note:
        fields["institution"] = encode_latex(note)
        note = None
    elif venue is not None and venue.track == "submission" and not note:
        note = submission_note(venue_display_name(venue.name, venues), venue.year)
    fields["year"] = str(year)
    if entry_type in ("misc", "techreport"):
        # A preprint is cited by when it appeared; a published paper by its venue's year alone.
        fields["month"] = MONTHS[paper.date.month - 1]
    if note:
        fields["note"] = encode_latex(note)
    if paper.identifiers.doi:
        fields["doi"] = paper.identifiers.doi
    if paper.identifiers.arxiv:
        fields["eprint"] = paper.identifiers.arxiv
        fields["archivePrefix"] = "arXiv"  # BibTeX styles (natbib, ACL) read this one,
        fields["eprinttype"] = "arXiv"  # biblatex this one
    elif entry_type == "misc" and _ARCHIVES.get(_first_identifier(paper)):
        # Neither published nor on arXiv (an OpenReview submission): say where it can be read, with the url.
        fields["howpublished"] = _ARCHIVES[_first_identifier(paper)]
    url = paper_url(paper)
    if url:
        # A brace in a URL would end the field early; percent-encoding keeps the same address.
        fields["url"] = url.replace("{", "%7B").replace("}", "%7D")
    ordered = {key: fields[key] for key in FIELD_ORDER if key in fields}
    return entry_type, ordered


#: Where a paper with only this identifier can be read (`howpublished` of an @misc without an arXiv id).
_ARCHIVES = {"openreview": "OpenReview", "acl": "ACL Anthology"}


def _first_identifier(paper: Paper) -> str | None:
    return next((name for name in ("openreview", "acl", "doi") if getattr(paper.identifiers, name)), None)


def _entry(paper: Paper, venues: Mapping[str, Any] | None):
    from bibtexparser.model import Entry, Field

    entry_type, fields = paper_fields(paper, venues)
    bib_fields = []
    for key, value in fields.items():
        field = Field(key, value)
        if key == "month":
            field.enclosing = "no-enclosing"  # the standard month macros: month = feb
        bib_fields.append(field)
    return Entry(entry_type, paper.id, bib_fields)


def _write(entries) -> str:
    import bibtexparser
    from bibtexparser.library import Library
    from bibtexparser.middlewares.parsestack import default_unparse_stack
    from bibtexparser.writer import BibtexFormat

    layout = BibtexFormat()
    layout.indent = "  "
    layout.block_separator = "\n"
    layout.trailing_comma = True
    # The entries are built for this call only, so the writer may add the braces in place: the default stack
    # deep-copies every entry first (a second of the 10,000-record site build).
    text = bibtexparser.write_string(
        Library(entries), unparse_stack=default_unparse_stack(allow_inplace_modification=True), bibtex_format=layout)
    return text if text.endswith("\n") or not text else text + "\n"


def paper_to_bibtex(paper: Paper, venues: Mapping[str, Term | str] | None = None) -> str:
    """One BibTeX entry (key = record id) for a paper, ending with a newline.

    ``venues`` maps venue keys to their Term (``corpus.taxonomy["venues"]``) or display name; without it the
    venue key itself is written as the booktitle/journal.
    """
    return _write([_entry(paper, venues)])


def papers_to_bibtex(papers: Iterable[Paper], venues: Mapping[str, Term | str] | None = None) -> str:
    """All papers as one BibTeX file, sorted by id (deterministic), entries separated by a blank line."""
    entries = [_entry(paper, venues) for paper in sorted(papers, key=lambda p: p.id)]
    return _write(entries)
