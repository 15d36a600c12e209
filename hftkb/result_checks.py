"""The corpus checks of `results:` entries (issue 25): every key names a term of its vocabulary.

`metric`, `model` and `task` are keys of taxonomy/metrics.yaml, models.yaml and tasks.yaml; `method` and
`baseline_method` are a record id or a key of taxonomy/baselines.yaml. An unknown key is an error (E304 for a
vocabulary term, E317 for a method) at its line, naming the nearest known keys, and the key a paper's spelling
stands for when the spelling is an alias ('Llama2-7B' is `llama-2-7b`). Called by hftkb.checks.check_corpus.
"""

from __future__ import annotations

import difflib
import re
from typing import Callable

from hftkb.corpus import Corpus
from hftkb.problems import Problem

#: Result field -> the vocabulary its value comes from.
RESULT_TERMS = {"metric": "metrics", "model": "models", "task": "tasks"}

Add = Callable[[str, tuple, str], None]


def spelling_key(spelling: str) -> str:
    """Compare spellings without case, spaces or punctuation: 'Llama-2-7B' ~ 'llama2 7b' ~ 'llama-2-7b'."""
    return "".join(ch for ch in spelling.lower() if ch.isalnum())


def alias_table(corpus: Corpus, vocabulary: str) -> dict[str, str]:
    """Every spelling of every term of a result vocabulary (key, name, aliases; normalised) -> the term's key."""
    table: dict[str, str] = {}
    for term in corpus.taxonomy.get(vocabulary, {}).values():
        for spelling in [term.id, term.name, *term.aliases]:
            table.setdefault(spelling_key(spelling), term.id)
    return table


def nearest(value: str, keys: list[str], aliases: dict[str, str]) -> str:
    """' (did you mean ...?)' for an unknown key: the key it is an alias of, else the closest keys (difflib)."""
    exact = aliases.get(spelling_key(value))
    if exact is not None:
        return f" ('{value}' is a spelling of '{exact}': write the key)"
    hints = difflib.get_close_matches(value.lower(), keys, n=3, cutoff=0.5)
    return f" (nearest known keys: {', '.join(repr(h) for h in hints)})" if hints else ""


def check_results(corpus: Corpus, known_ids: set[str], paper_id: str, add: Add) -> None:
    """Report every unknown vocabulary key and method of one record's results."""
    paper = corpus.papers[paper_id]
    if not paper.results:
        return
    baselines = corpus.taxonomy.get("baselines", {})
    for index, result in enumerate(paper.results):
        for field, vocabulary in RESULT_TERMS.items():
            terms = corpus.taxonomy.get(vocabulary)
            value = getattr(result, field)
            if terms is None or value in terms:
                continue  # a missing vocabulary is reported once (check_result_vocabularies)
            hint = nearest(value, list(terms), alias_table(corpus, vocabulary))
            add("E304", ("results", index, field), f"results[{index}].{field}: '{value}' is not a key of "
                f"taxonomy/{vocabulary}.yaml{hint}")
        for field in ("method", "baseline_method"):
            value = getattr(result, field)
            if value is None or value in known_ids or value in baselines:
                continue
            # only for an unknown method (rare): the short names of 10,000 records are not indexed per record
            short_names = {spelling_key(p.short_name): pid for pid, p in corpus.papers.items() if p.short_name}
            aliases = {**alias_table(corpus, "baselines"), **short_names}
            hint = nearest(value, sorted(baselines) + sorted(known_ids), aliases)
            add("E317", ("results", index, field), f"results[{index}].{field}: '{value}' is neither a paper record "
                f"nor a key of taxonomy/baselines.yaml{hint}")


def check_result_vocabularies(corpus: Corpus) -> list[Problem]:
    """E315 once per result vocabulary that some result needs and taxonomy/ lacks."""
    if not any(paper.results for paper in corpus.papers.values()):
        return []
    problems = []
    for vocabulary in ("metrics", "models", "tasks", "baselines"):
        if vocabulary not in corpus.taxonomy:
            path = corpus.root / "taxonomy" / f"{vocabulary}.yaml"
            if not path.exists():
                problems.append(Problem(str(path), 0, "E315", f"taxonomy vocabulary '{vocabulary}' is missing "
                                        "(the records' results: use it)"))
    return problems


# ---------------------------------------------------------------------------------------------------------
# The source rule (issue 23), enforced by `validate --strict` (hftkb.strict.check_sources)

#: What `table:` must name: a place in the paper, or the official README. "Abstract" is accepted (the paper's
#: own text), and so is "official project page" (the authors' page showing the paper's table when it gives no
#: table number); the site shows the place as written.
PLACE = re.compile(
    r"\b(?i:tables?|tab\.|fig(?:ure)?s?\.?|sections?|sec\.|appendi(?:x|ces)|app\.)\s*[A-Z0-9]|§\s*[0-9]|"
    r"\b(?i:abstract|readme|official project page)\b"
)

#: Summary and note sites (AI-written summaries, paper-note blogs): never a source of a number or a relation.
#: A LaTeXML copy of the paper itself (e.g. deep-diver/ai-paper-reviewer's arXiv HTML tables) is a copy of the
#: paper, not a summary, so it is not listed.
SUMMARY_SITES = re.compile(
    r"papernotes|aispaper|themoonlight|moonlight\.io|alphaxiv|emergentmind|chatpaper|paperdigest|paper digest|"
    r"sciencestack|arxivlens|scholarcy|paperbrief|researchtrend|deep-paper\.org|tomesphere|luneresearch|"
    r"papers\.lunadong|\bai[- ](?:written|generated) summar|third-party (?:summary|note|structured summary)|"
    r"paper note|tutorial note",
    re.IGNORECASE,
)

#: The project's design notes are not a source the repository may cite (PREAMBLE: cite papers and code).
LOCAL_NOTES = re.compile(r"/work/shared/|\bDEFENSES\.md\b|\bSURVEY\.md\b|\bDESIGN\.md\b")


def source_problems(corpus: Corpus) -> list[Problem]:
    """E606: a result's `table` that names no table, figure, section, appendix or README; E607: a result or
    relation whose table or note names a summary or note site; E608: a record that cites the design notes."""
    problems = []
    for paper_id, paper in corpus.papers.items():
        path = corpus.paths[paper_id]
        pos = corpus.positions[path]

        def add(code: str, loc: tuple, message: str) -> None:
            line, column = pos.locate(loc)
            problems.append(Problem(str(path), line, code, message, column))

        for index, result in enumerate(paper.results):
            if not PLACE.search(result.table):
                add("E606", ("results", index, "table"), f"results[{index}].table: '{result.table}' names no table, "
                    "figure, section, appendix or README of the paper (write e.g. 'Table 4', 'Appendix C' or 'official README')")
            for field in ("table", "note", "setting"):
                text = getattr(result, field) or ""
                match = SUMMARY_SITES.search(text)
                if match:
                    add("E607", ("results", index, field), f"results[{index}].{field} names a summary or note site "
                        f"('{match.group(0)}'): take the number from the paper's own table or the official README")
        for index, relation in enumerate(paper.relations):
            match = SUMMARY_SITES.search(relation.note or "")
            if match:
                add("E607", ("relations", index, "note"), f"relations[{index}].note names a summary or note site "
                    f"('{match.group(0)}'): source the relation from the paper itself, or remove it")
        texts = [(("notes", i), note) for i, note in enumerate(paper.notes)]
        texts += [(("results", i, "note"), r.note or "") for i, r in enumerate(paper.results)]
        texts += [(("relations", i, "note"), r.note or "") for i, r in enumerate(paper.relations)]
        for loc, text in texts:
            match = LOCAL_NOTES.search(text)
            if match:
                label = f"{loc[0]}[{loc[1]}]" + (".note" if len(loc) == 3 else "")
                add("E608", loc, f"{label} cites the project's design notes ('{match.group(0)}'): cite the paper's "
                    "table or the official code instead")
    return problems
