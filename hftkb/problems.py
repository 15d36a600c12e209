"""Problems found in the knowledge base, and the stable codes that name them.

Every check reports a `Problem` instead of raising: validation collects all of them before it exits (the
ACL Anthology habit), and a contributor sees every mistake of a pull request at once. `Problem.format` is the
one place that decides how a problem is printed, so new output styles (e.g. GitHub annotations) go here.

The codes are stable: tools and documentation refer to them. `CODES` is the table; each code is documented in
site/reference/error-codes.md and has a test (tests/hftkb/test_checks_codes.py fails if either is missing).
"""

from __future__ import annotations

from dataclasses import dataclass

#: code -> one-line meaning. Grouped: E1xx reading the file (YAML and I/O), E2xx one record against the
#: schema, E3xx the corpus as a whole, E4xx formatting and generated files, E5xx importing the companion list;
#: x6xx completeness, reported only by `validate --strict`: W601-W603 warnings (an incomplete record is still
#: valid), E604-E605 errors (an `absent:` that contradicts the record).
CODES: dict[str, str] = {
    # -- reading the file
    "E101": "not a readable regular file (e.g. a directory named x.yaml)",
    "E102": "file larger than 1 MB",
    "E103": "file is not valid UTF-8",
    "E104": "empty file",
    "E105": "malformed YAML",
    "E106": "duplicate key in a mapping",
    "E107": "YAML anchor or alias (not allowed: they hide content and allow billion-laughs files)",
    "E108": "YAML tag (not allowed: records are plain data)",
    "E109": "symbolic link pointing outside the knowledge base",
    "E110": "wrong top-level structure (a record is a mapping; a vocabulary is a list of terms)",
    "E111": "impossible date (e.g. 2024-02-30)",
    "E112": "more than one YAML document in the file",
    "E113": "record file not read: its extension is not .yaml (e.g. .yml)",
    "E114": "lists and mappings nested too deep (more than hftkb.yamlio.MAX_DEPTH levels)",
    # -- one record against the schema
    "E201": "missing required field",
    "E202": "unknown key",
    "E203": "wrong type",
    "E204": "invalid value (pattern, range or choice)",
    "E205": "identifier or text that YAML reads as a number, boolean or date: quote it",
    "E206": "link is not an http(s) URL",
    "E207": "author list is one string, or one item holds several names",
    "E208": "author list cut short with 'et al.' or 'others'",
    # -- the corpus as a whole
    "E301": "record id does not match the file name",
    "E302": "two records with the same id",
    "E303": "relation target is not a paper in the knowledge base",
    "E304": "unknown taxonomy term",
    "E305": "two records for one paper (same arXiv, DOI, OpenReview or ACL id)",
    "E306": "two records for one paper (same normalised title)",
    "E307": "date in the future",
    "E308": "reference_impl name not in the reference_impl registry",
    "E309": "a registered reference implementation names a paper that has no record",
    "E310": "FAQ evidence cites a paper that is not in the knowledge base",
    "E311": "FAQ entry relates to an FAQ id that does not exist",
    "E312": "a record relates to itself",
    "E313": "sub_family does not belong to the record's stage",
    "E314": "taxonomy problem (duplicate term id, unknown parent, or a venue alias used twice)",
    "E315": "taxonomy vocabulary file missing",
    "E316": "updated date earlier than added date",
    "E317": "a result's method (or baseline_method) is neither a paper record nor a key of taxonomy/baselines.yaml",
    # -- importing the companion list (hftkb import-awesome)
    "E501": "list entry that cannot be read (no date, no bold title, or no link)",
    "E502": "unknown venue spelling in the list",
    "E503": "unknown link label in the list",
    "E504": "two entries for one paper with different identifiers",
    # -- completeness (hftkb validate --strict only; hftkb.strict)
    "W601": "incomplete record: a field every record needs is missing and not marked absent",
    "W602": "incomplete defense or attack: a field its kind needs is missing and not marked absent",
    "W603": "summary copies a long run of words from the arXiv abstract",
    "E604": "absent lists a field the record has (an error, reported by --strict)",
    "E605": "absent names something that is not a field it may list (an error, reported by --strict)",
    # -- triage files (hftkb add --from-triage; hftkb.triage)
    "E701": "malformed triage entry (not a mapping, unknown key, bad decision, arXiv id, title, authors, date or kind)",
    "E702": "triage entry for a paper the knowledge base already has, or listed twice in the file",
    "E703": "triage entry names an unknown kind, stage, venue or other taxonomy term",
    "E606": "a result's table names no table, figure, section, appendix or README of the paper (--strict)",
    "E607": "a result or relation is sourced from a summary or note site, not the paper (--strict)",
    "E608": "a record cites the project's design notes instead of the paper or its code (--strict)",
    # -- formatting and generated files
    "E401": "record is not in canonical format (run `hftkb fmt`)",
    "E402": "generated JSON Schema is stale (run `hftkb schema`)",
}


@dataclass(frozen=True, order=True)
class Problem:
    """One problem at one place: `path:line: CODE message`.

    `line` and `column` are 1-based; line 0 means "the file as a whole" (e.g. it cannot be read).
    """

    path: str
    line: int
    code: str
    message: str
    column: int = 0

    @property
    def severity(self) -> str:
        """"warning" for the completeness codes (W...: reported by `validate --strict` only), else "error"."""
        return "warning" if self.code.startswith("W") else "error"

    def format(self, style: str = "text") -> str:
        """Render the problem: "text" is `path:line: CODE message`; "github" is a workflow annotation."""
        if style == "github":
            # GitHub Actions annotation: shows the message on the line of the pull request's diff.
            where = f"file={_github_property(self.path)},line={max(self.line, 1)}"
            if self.column:
                where += f",col={self.column}"
            return f"::{self.severity} {where},title={self.code}::{_github_escape(self.message)}"
        if style != "text":
            raise ValueError(f"unknown output style: {style!r}")
        return f"{self.path}:{self.line}: {self.code} {self.message}"


def _github_escape(text: str) -> str:
    # Workflow commands treat %, CR and LF specially.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _github_property(text: str) -> str:
    # In a property value (file=...), ':' and ',' end the value too (actions/toolkit, escapeProperty).
    return _github_escape(text).replace(":", "%3A").replace(",", "%2C")


def format_problems(problems: list[Problem], style: str = "text") -> str:
    """All problems sorted by file and line, one per line."""
    return "\n".join(p.format(style) for p in sorted(problems))
