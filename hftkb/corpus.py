"""The corpus: every record of a knowledge base directory, loaded, each record validated, and indexed.

    corpus = read_corpus(Path("."))            # or hftkb.validate.load_corpus: this, then the corpus checks
    corpus.papers["vaccine-2024"].title
    corpus.reverse_relations("vaccine-2024")   # [("booster-2024", Relation(type="compares_to", ...)), ...]
    corpus.problems                            # every problem found, each `path:line: CODE message`

Loading never raises for bad records: a record that fails is left out of `papers`/`faq` and its problems are in
`problems`. Layout: papers/<id>.yaml, faq/<id>.yaml, taxonomy/<vocabulary>.yaml (see hftkb.models.VOCABULARIES;
the result vocabularies, hftkb.models.RESULT_VOCABULARIES, are optional).

Each record is checked alone here (hftkb.records); the checks across records (hftkb.checks) need the loaded
corpus, so they come after, in hftkb.validate.load_corpus, which is what the commands call.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hftkb.models import RESULT_VOCABULARIES, VOCABULARIES, FaqEntry, Paper, Relation, Term
from hftkb.problems import Problem
from hftkb.records import validate_record
from hftkb.yamlio import LoadError, ParseCache, Positions, load_yaml, load_yaml_many


# From this many paper files on, parses are cached between runs (hftkb.yamlio.ParseCache) and files are
# parsed in one process per CPU: below it, one process parses fast enough (forking costs more than it saves
# on the committed corpus of ~140 records) and tests with small temporary corpora leave nothing behind.
CACHE_MIN_FILES = 1000
PARALLEL_MIN_FILES = 1000


@dataclass
class Corpus:
    root: Path
    papers: dict[str, Paper] = field(default_factory=dict)  # id -> record, sorted by id
    faq: dict[str, FaqEntry] = field(default_factory=dict)  # id -> entry, sorted by id
    taxonomy: dict[str, dict[str, Term]] = field(default_factory=dict)  # vocabulary -> term id -> term
    problems: list[Problem] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)  # paper id -> its file
    faq_paths: dict[str, Path] = field(default_factory=dict)  # FAQ id -> its file
    positions: dict[Path, Positions] = field(default_factory=dict)  # file -> where its values are
    failed_stems: set[str] = field(default_factory=set)  # papers/<stem>.yaml files that did not load
    _reverse: dict[str, list[tuple[str, Relation]]] | None = field(default=None, repr=False)

    def reverse_relations(self, paper_id: str) -> list[tuple[str, Relation]]:
        """Relations that other records declare towards `paper_id`: (source id, relation), sorted by source."""
        if self._reverse is None:
            reverse: dict[str, list[tuple[str, Relation]]] = {}
            for source_id, paper in self.papers.items():
                for relation in paper.relations:
                    reverse.setdefault(relation.target, []).append((source_id, relation))
            self._reverse = reverse
        return list(self._reverse.get(paper_id, []))

    def term(self, vocabulary: str, term_id: str | None) -> Term | None:
        """The taxonomy term, or None (unknown terms are reported by the checks)."""
        if term_id is None:
            return None
        return self.taxonomy.get(vocabulary, {}).get(term_id)

    def venue_aliases(self) -> dict[str, str]:
        """Every spelling of every venue (normalised: lowercase, no spaces or punctuation) -> venue id."""
        table: dict[str, str] = {}
        for venue in self.taxonomy.get("venues", {}).values():
            for spelling in [venue.id, venue.name, *venue.aliases]:
                table.setdefault(venue_key(spelling), venue.id)
        return table

    @property
    def ok(self) -> bool:
        return not self.problems


def venue_key(spelling: str) -> str:
    """Compare venue spellings without case, spaces or punctuation: 'NeurIPS 2024' ~ 'neurips2024'."""
    return "".join(ch for ch in spelling.lower() if ch.isalnum())


def read_corpus(kb_dir: Path) -> Corpus:
    """Load the knowledge base in `kb_dir`, each record validated alone (no cross-record checks)."""
    kb_dir = Path(kb_dir)
    corpus = Corpus(root=kb_dir)
    if not kb_dir.is_dir():
        corpus.problems.append(Problem(str(kb_dir), 0, "E101", "knowledge base directory not found"))
        return corpus

    # Taxonomy first: the checks of papers and FAQ entries need it.
    for vocabulary in VOCABULARIES:
        path = kb_dir / "taxonomy" / f"{vocabulary}.yaml"
        if not path.exists() and not path.is_symlink():
            corpus.problems.append(Problem(str(path), 0, "E315", f"taxonomy vocabulary '{vocabulary}' is missing"))
            continue
        _load_vocabulary(vocabulary, Term, path, kb_dir, corpus)
    for vocabulary, model in RESULT_VOCABULARIES.items():
        path = kb_dir / "taxonomy" / f"{vocabulary}.yaml"
        if path.exists() or path.is_symlink():  # optional: reported by the checks only where a result needs it
            _load_vocabulary(vocabulary, model, path, kb_dir, corpus)

    paper_files = _record_files(kb_dir / "papers", corpus)
    cache = ParseCache.for_kb(kb_dir) if len(paper_files) >= CACHE_MIN_FILES else None
    workers = parse_workers() if len(paper_files) >= PARALLEL_MIN_FILES else 1
    loaded = load_yaml_many(paper_files, kb_dir, cache, workers)  # parsed ahead in workers for large corpora
    for path in paper_files:
        paper = _validate(Paper, _accept(path, next(loaded), corpus), path, corpus)
        if paper is None:
            corpus.failed_stems.add(path.stem)
            continue
        if paper.id in corpus.papers:
            first = corpus.paths[paper.id]
            line = corpus.positions[path].line(("id",))
            corpus.problems.append(Problem(str(path), line, "E302", f"id '{paper.id}' is also used by {first}"))
            continue
        corpus.papers[paper.id] = paper
        corpus.paths[paper.id] = path
    loaded.close()

    for path in _record_files(kb_dir / "faq", corpus):
        entry = _validate(FaqEntry, _load(path, kb_dir, corpus), path, corpus)
        if entry is None:
            continue
        if entry.id in corpus.faq:
            line = corpus.positions[path].line(("id",))
            corpus.problems.append(Problem(str(path), line, "E302", f"id '{entry.id}' is also used by {corpus.faq_paths[entry.id]}"))
            continue
        corpus.faq[entry.id] = entry
        corpus.faq_paths[entry.id] = path

    if cache is not None:
        cache.save()
    corpus.papers = dict(sorted(corpus.papers.items()))
    corpus.faq = dict(sorted(corpus.faq.items()))
    corpus.problems.sort()
    return corpus


def _load_vocabulary(vocabulary: str, model: type, path: Path, kb_dir: Path, corpus: Corpus) -> None:
    """Read taxonomy/<vocabulary>.yaml into corpus.taxonomy[vocabulary], each term validated as `model`."""
    data = _load(path, kb_dir, corpus)
    if data is _FAILED or isinstance(data, _Partial):
        return  # a vocabulary with YAML problems is not used: its terms would be guesses
    if not isinstance(data, list):
        corpus.problems.append(Problem(str(path), 1, "E110", "a vocabulary file is a YAML list of terms"))
        return
    terms: dict[str, Term] = {}
    positions = corpus.positions[path]
    for index, item in enumerate(data):
        term = _validate(model, item, path, corpus, loc=(index,))
        if term is None:
            continue
        if term.id in terms:
            line = positions.line((index, "id"))
            corpus.problems.append(Problem(str(path), line, "E314", f"term '{term.id}' is defined twice"))
            continue
        terms[term.id] = term
    corpus.taxonomy[vocabulary] = terms


def _record_files(directory: Path, corpus: Corpus | None = None) -> list[Path]:
    """papers/*.yaml (or faq/*.yaml), sorted; names starting with '_' or '.' are not records.

    A record saved as `.yml` (or `.YAML`) would be skipped without a word: it is reported instead (E113).
    """
    if not directory.is_dir():
        return []
    names = sorted(entry.name for entry in os.scandir(directory))
    if corpus is not None:
        for name in names:
            if name.lower().endswith((".yml", ".yaml")) and not name.endswith(".yaml") and not name.startswith(("_", ".")):
                stem = name.rsplit(".", 1)[0]
                corpus.problems.append(Problem(str(directory / name), 0, "E113", f"not read: records end in .yaml (rename it to {stem}.yaml)"))
    return [directory / name for name in names if name.endswith(".yaml") and not name.startswith(("_", "."))]


def parse_workers() -> int:
    """Processes for parsing a large corpus: one per CPU this process may use; HFTKB_WORKERS overrides it
    (HFTKB_WORKERS=1 parses in this process only)."""
    override = os.environ.get("HFTKB_WORKERS", "").strip()
    if override.isdigit() and int(override) > 0:
        return int(override)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _load(path: Path, kb_dir: Path, corpus: Corpus) -> Any:
    try:
        result = load_yaml(path, kb_dir)
    except LoadError as err:
        result = err
    return _accept(path, result, corpus)


def _accept(path: Path, result: tuple[Any, Positions] | LoadError, corpus: Corpus) -> Any:
    """Record a load's problems and positions; return the data, a _Partial, or _FAILED (see _Partial)."""
    if isinstance(result, LoadError):
        err = result
        corpus.problems.extend(err.problems)
        if err.data is None or any(p.code == "E107" for p in err.problems):
            return _FAILED  # aliases were replaced by nothing: what is left would only produce noise
        # Readable despite its problems: validate it to report everything at once, but keep the record out of
        # the corpus (see _Partial), and do not repeat a problem on a line that already has one.
        corpus.positions[path] = err.positions
        return _Partial(err.data, {p.line for p in err.problems})
    data, corpus.positions[path] = result
    return data


# A file that could not be read at all (its problems are reported). Not None: a document that is just `null`
# (or `~`) loads as None, and must be reported as "not a mapping" rather than skipped in silence.
_FAILED = object()


class _Partial:
    """Data of a file that loaded with problems: validated for its other problems, never accepted."""

    def __init__(self, data: Any, lines: set[int]):
        self.data = data
        self.lines = lines


def _validate(model: type, loaded: Any, path: Path, corpus: Corpus, loc: tuple = ()) -> Any:
    """Validate loaded data (or partial data) as `model`; record its problems; return the record or None."""
    if loaded is _FAILED:
        return None
    data = loaded.data if isinstance(loaded, _Partial) else loaded
    record, problems = validate_record(model, data, corpus.positions[path], str(path), loc=loc)
    if isinstance(loaded, _Partial):
        corpus.problems.extend(p for p in problems if p.line not in loaded.lines)
        return None
    corpus.problems.extend(problems)
    return record
