"""Triage files: what `hftkb discover` writes (discover/YYYY-MM-DD.yaml) and `hftkb add --from-triage` reads.

A triage file is YAML: a few header fields, then `candidates:`, one mapping per paper arXiv found that the
knowledge base does not hold, best ranked first. The curator sets each `decision:` to `keep` or `drop` (and
checks the suggested `kind` and `stage`); `hftkb add --from-triage` turns the kept ones into records.

Writing. The file's first lines are comments, one of them the digest of everything after it. `write_triage`
overwrites an existing file only when that digest still matches, i.e. the file is one `hftkb discover` wrote
and nobody has edited since; anything else (a curator's edits, a hand-written file) is never overwritten.
The text goes to a temporary file first and is then renamed, so a failed run leaves nothing half-written.
`decided_elsewhere` lists the papers earlier triage files already kept or dropped, which discover leaves out.

Reading. `read_triage` loads the file with the knowledge base's strict loader and checks every entry before
anything is added: a malformed entry (E701), a paper the knowledge base already has, or one listed twice
(E702), an unknown kind, stage or other term (E703). Each problem names the file and the entry's line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hftkb.problems import Problem

DIGEST_PREFIX = "# hftkb-discover-digest: "
DECISIONS = ("keep", "drop", "undecided")
#: Fields of an entry the curator may set for the record (besides decision, kind and stage).
RECORD_OPTIONS = ("sub_family", "attack_type", "tags", "needs", "venue", "short_name", "code", "summary")
#: Fields `hftkb discover` writes for the curator to read; kept as they are, never needed.
INFORMATION = ("abstract", "score", "similar", "categories", "found_by")
ENTRY_KEYS = ("arxiv", "decision", "kind", "stage", "title", "authors", "date", *RECORD_OPTIONS, *INFORMATION)
#: Entry field -> the vocabulary (taxonomy/<name>.yaml) its terms come from.
VOCABULARY_OF = {"kind": "kinds", "stage": "stages", "sub_family": "sub_families", "attack_type": "attack_types",
                 "tags": "tags", "needs": "needs"}


def decided_elsewhere(directory: Path, skip: Path | None = None) -> dict[str, Path]:
    """arXiv id -> the earlier triage file in `directory` where a curator kept or dropped it.

    Files that cannot be read are passed over: this only saves the curator a second look, it never blocks a run.
    """
    from hftkb.yamlio import LoadError, load_yaml

    decided: dict[str, Path] = {}
    for path in sorted(directory.glob("*.yaml")) if directory.is_dir() else []:
        if skip is not None and path.resolve() == skip.resolve():
            continue
        try:
            data, _ = load_yaml(path)
        except LoadError:
            continue
        entries = data.get("candidates") if isinstance(data, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("decision") in ("keep", "drop") and entry.get("arxiv"):
                decided.setdefault(str(entry["arxiv"]), path)
    return decided


class TriageExists(RuntimeError):
    """The triage file exists and `hftkb discover` did not write it (or it was edited since); one line."""


# ---------------------------------------------------------------------------------------------------------
# Writing


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:32]


def written_by_discover(path: Path) -> bool:
    """True when `path` is a triage file `hftkb discover` wrote, unchanged since."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    head, sep, body = text.partition("\n" + DIGEST_PREFIX)
    if not sep:
        return False
    digest, _, body = body.partition("\n")
    return digest.strip() == _digest(body)


def render_triage(header: dict[str, Any], candidates: list[dict[str, Any]], comments: list[str]) -> str:
    from hftkb.yamlio import dump_data

    body = dump_data({**header, "candidates": candidates})
    lines = "".join(f"# {line}".rstrip() + "\n" for line in comments)
    return f"{lines}{DIGEST_PREFIX}{_digest(body)}\n{body}"


def write_triage(path: Path, text: str) -> None:
    """Write `text` to `path` atomically; raises TriageExists rather than overwrite a file discover did not write."""
    if (path.exists() or path.is_symlink()) and not written_by_discover(path):
        raise TriageExists(
            f"{path} exists and was not written by `hftkb discover` (or was edited since); nothing written: "
            "keep it, and pass --out for the new file"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------------------
# Reading


@dataclass
class Kept:
    """One entry the curator kept: what `hftkb add` needs to build its record."""

    arxiv_id: str
    line: int
    title: str
    authors: list[str]
    date: dt.date
    kind: str
    abstract: str = ""
    options: dict[str, Any] = field(default_factory=dict)  # stage and RECORD_OPTIONS that are set


def read_triage(path: Path, corpus: Any) -> tuple[list[Kept], list[Problem], int]:
    """(kept entries, problems, number of entries) of a triage file, checked against the knowledge base."""
    from hftkb.arxiv_client import BadArxivRef, parse_arxiv_ref
    from hftkb.importers.staging import DuplicateIndex, record_path
    from hftkb.yamlio import LoadError, load_yaml

    where = str(path)
    try:
        data, positions = load_yaml(path)
    except LoadError as err:
        return [], err.problems, 0
    if not isinstance(data, dict) or not isinstance(data.get("candidates"), list):
        return [], [Problem(where, 1, "E701", "not a triage file: expected a mapping with a `candidates:` list")], 0

    problems: list[Problem] = []
    kept: list[Kept] = []
    duplicates = DuplicateIndex(corpus.papers.values())
    seen: dict[str, int] = {}  # arXiv id -> line of its first entry in this file
    for index, entry in enumerate(data["candidates"]):
        loc = ("candidates", index)
        line = positions.line(loc)

        def problem(code: str, message: str, key: str | None = None) -> None:
            at = positions.line(loc + (key,)) if key and isinstance(entry, dict) and key in entry else line
            problems.append(Problem(where, at, code, f"candidates[{index}]: {message}"))

        if not isinstance(entry, dict):
            problem("E701", "an entry is a mapping (arxiv, title, decision, ...)")
            continue
        for key in entry:
            if key not in ENTRY_KEYS:
                problem("E701", f"unknown key {key!r} (an entry has {', '.join(ENTRY_KEYS)})", key)
        decision = entry.get("decision")
        if decision not in DECISIONS:
            problem("E701", f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}", "decision")
            continue
        try:
            arxiv_id = parse_arxiv_ref(str(entry.get("arxiv", "")))
        except BadArxivRef as err:
            problem("E701", f"arxiv: {err}", "arxiv")
            continue
        if arxiv_id in seen:
            problem("E702", f"arxiv:{arxiv_id} is listed twice (first on line {seen[arxiv_id]})", "arxiv")
            continue
        seen[arxiv_id] = line
        if decision != "keep":
            continue
        title = entry.get("title")
        if not isinstance(title, str) or not title.strip():
            problem("E701", "title: a kept entry needs its title (text)", "title")
            continue
        found = duplicates.find(title, {"arxiv": arxiv_id})
        if found:
            existing, why = found
            problem("E702", f"arxiv:{arxiv_id} is already in the knowledge base as '{existing}' ({why}: "
                    f"{record_path(corpus, existing)}); set decision: drop", "arxiv")
            continue
        authors = entry.get("authors", [])
        if not isinstance(authors, list) or not all(isinstance(name, str) and name.strip() for name in authors):
            problem("E701", "authors: a list of names", "authors")
            continue
        if not isinstance(entry.get("date"), dt.date):
            problem("E701", f"date: YYYY-MM-DD, not {entry.get('date')!r}", "date")
            continue
        if not entry.get("kind"):
            problem("E701", "kind: a kept entry needs a kind (from taxonomy/kinds.yaml)", "kind")
            continue
        bad_term = False
        for key, vocabulary in VOCABULARY_OF.items():
            value = entry.get(key)
            for term in value if isinstance(value, list) else [value]:
                if term is not None and (not isinstance(term, str) or term not in corpus.taxonomy.get(vocabulary, {})):
                    terms = ", ".join(sorted(corpus.taxonomy.get(vocabulary, {})))
                    problem("E703", f"{key}: {term!r} is not a term of taxonomy/{vocabulary}.yaml ({terms})", key)
                    bad_term = True
        if bad_term:
            continue
        abstract = entry.get("abstract") if isinstance(entry.get("abstract"), str) else ""
        options = {key: entry[key] for key in ("stage", *RECORD_OPTIONS) if entry.get(key) not in (None, [], "")}
        kept.append(Kept(arxiv_id, line, " ".join(title.split()), [" ".join(a.split()) for a in authors],
                         entry["date"], entry["kind"], abstract, options))
    return kept, problems, len(data["candidates"])
