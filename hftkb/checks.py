"""The corpus checks: what needs every record (the second layer of validation, after each record alone).

Ids against file names, relation targets, taxonomy terms, the results' vocabularies (hftkb.result_checks), duplicate papers, dates, the reference_impl registry,
and the FAQ's references. Each record alone has been checked while loading (hftkb.records); `hftkb.validate`
runs both.
"""

from __future__ import annotations

import datetime as dt
import difflib
from pathlib import Path
from typing import Any

from hftkb.corpus import Corpus, venue_key
from hftkb.ids import normalise_title
from hftkb.problems import Problem
from hftkb.result_checks import check_result_vocabularies, check_results

# Paper fields whose values come from a vocabulary: field -> vocabulary.
_PAPER_TERMS = {"kind": "kinds", "stage": "stages", "sub_family": "sub_families", "attack_type": "attack_types"}
_PAPER_TERM_LISTS = {"tags": "tags", "needs": "needs"}
_IDENTIFIERS = ("arxiv", "doi", "openreview", "acl")


def check_corpus(corpus: Corpus, today: dt.date | None = None) -> list[Problem]:
    """Every cross-record problem of the corpus (the records themselves are already valid)."""
    today = today or dt.date.today()
    problems: list[Problem] = []
    problems += _check_taxonomy(corpus)
    problems += check_result_vocabularies(corpus)
    known_ids = set(corpus.papers) | corpus.failed_stems  # a broken record is reported once, not at each reference
    registry = _load_registry(corpus.root)
    seen_identifiers: dict[tuple[str, str], str] = {}
    seen_titles: dict[str, str] = {}

    for paper_id, paper in corpus.papers.items():
        path = corpus.paths[paper_id]
        where = str(path)
        pos = corpus.positions[path]

        def add(code: str, loc: tuple, message: str) -> None:
            line, column = pos.locate(loc)
            problems.append(Problem(where, line, code, message, column))

        if path.stem != paper_id:
            add("E301", ("id",), f"id '{paper_id}' does not match the file name: expected papers/{paper_id}.yaml or id '{path.stem}'")
        for field, vocabulary in _PAPER_TERMS.items():
            value = getattr(paper, field)
            if value is not None:
                _check_term(corpus, vocabulary, value, field, (field,), add)
        for field, vocabulary in _PAPER_TERM_LISTS.items():
            for index, value in enumerate(getattr(paper, field)):
                _check_term(corpus, vocabulary, value, f"{field}[{index}]", (field, index), add)
        if paper.venue is not None:
            _check_term(corpus, "venues", paper.venue.name, "venue.name", ("venue", "name"), add)
        if paper.sub_family is not None and paper.stage is not None:
            family = corpus.term("sub_families", paper.sub_family)
            if family is not None and family.parent and family.parent != paper.stage:
                add("E313", ("sub_family",), f"sub_family '{paper.sub_family}' belongs to stage '{family.parent}', but stage is '{paper.stage}'")

        for index, relation in enumerate(paper.relations):
            _check_term(corpus, "relation_types", relation.type, f"relations[{index}].type", ("relations", index, "type"), add)
            if relation.target == paper_id:
                add("E312", ("relations", index, "target"), f"relations[{index}] points to the record itself")
            elif relation.target not in known_ids:
                add("E303", ("relations", index, "target"), f"relations[{index}].target '{relation.target}' is not a paper in the knowledge base")

        check_results(corpus, known_ids, paper_id, add)

        for name in _IDENTIFIERS:
            value = getattr(paper.identifiers, name)
            if value is None:
                continue
            key = (name, value.lower())
            if key in seen_identifiers:
                add("E305", ("identifiers", name), f"{name} id {value} is also in '{seen_identifiers[key]}': one record per paper")
            else:
                seen_identifiers[key] = paper_id
        title_key = normalise_title(paper.title)
        if title_key in seen_titles:
            add("E306", ("title",), f"same title as '{seen_titles[title_key]}': one record per paper (merge them)")
        else:
            seen_titles[title_key] = paper_id

        for field in ("date", "added", "updated"):
            value = getattr(paper, field)
            if value is not None and value > today:
                add("E307", (field,), f"{field} {value} is in the future (today is {today})")
        if paper.updated is not None and paper.updated < paper.added:
            add("E316", ("updated",), f"updated {paper.updated} is earlier than added {paper.added}")

        if paper.reference_impl is not None and registry is not None and paper.reference_impl not in registry[0]:
            names = ", ".join(sorted(registry[0]))
            add("E308", ("reference_impl",), f"reference_impl '{paper.reference_impl}' is not in the registry ({names})")

    if registry is not None and registry[1] is not None:
        methods, registry_path = registry
        registry_lines = registry_path.read_text(encoding="utf-8").splitlines()
        for method in methods.values():
            if method.paper and method.paper not in known_ids:
                line = next((n for n, text in enumerate(registry_lines, 1) if f'"{method.paper}"' in text), 0)
                problems.append(Problem(str(registry_path), line, "E309", f"method '{method.name}' names paper '{method.paper}', which has no record in papers/"))

    problems += _check_faq(corpus, known_ids, today)
    return problems


def _check_term(corpus: Corpus, vocabulary: str, value: str, field: str, loc: tuple, add: Any) -> None:
    terms = corpus.taxonomy.get(vocabulary)
    if terms is None or value in terms:
        return  # a missing vocabulary is reported once (E315), not at every use
    hint = difflib.get_close_matches(value, list(terms), n=1)
    suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
    add("E304", loc, f"{field}: '{value}' is not a term of taxonomy/{vocabulary}.yaml{suggestion}")


def _check_taxonomy(corpus: Corpus) -> list[Problem]:
    problems: list[Problem] = []
    stages = corpus.taxonomy.get("stages", {})
    path = corpus.root / "taxonomy" / "sub_families.yaml"
    for index, family in enumerate(corpus.taxonomy.get("sub_families", {}).values()):
        if family.parent is not None and stages and family.parent not in stages:
            line = corpus.positions[path].line((index, "parent")) if path in corpus.positions else 0
            problems.append(Problem(str(path), line, "E314", f"sub-family '{family.id}': parent '{family.parent}' is not a stage"))
    path = corpus.root / "taxonomy" / "venues.yaml"
    owner: dict[str, str] = {}
    for index, venue in enumerate(corpus.taxonomy.get("venues", {}).values()):
        for spelling in {venue_key(s) for s in [venue.id, venue.name, *venue.aliases]}:
            if spelling in owner and owner[spelling] != venue.id:
                line = corpus.positions[path].line((index, "aliases")) if path in corpus.positions else 0
                problems.append(Problem(str(path), line, "E314", f"venue spelling '{spelling}' names both '{owner[spelling]}' and '{venue.id}'"))
            owner.setdefault(spelling, venue.id)
    return problems


def _check_faq(corpus: Corpus, known_ids: set[str], today: dt.date) -> list[Problem]:
    problems: list[Problem] = []
    faq_ids = set(corpus.faq) | {p.stem for p in (corpus.root / "faq").glob("*.yaml")} if (corpus.root / "faq").is_dir() else set(corpus.faq)
    for entry_id, entry in corpus.faq.items():
        path = corpus.faq_paths[entry_id]
        pos = corpus.positions[path]

        def add(code: str, loc: tuple, message: str) -> None:
            line, column = pos.locate(loc)
            problems.append(Problem(str(path), line, code, message, column))

        if path.stem != entry_id:
            add("E301", ("id",), f"id '{entry_id}' does not match the file name: expected faq/{entry_id}.yaml")
        for index, evidence in enumerate(entry.evidence):
            if evidence.paper not in known_ids:
                add("E310", ("evidence", index, "paper"), f"evidence[{index}].paper '{evidence.paper}' is not a paper in the knowledge base")
        for index, related in enumerate(entry.related):
            if related == entry_id:
                add("E312", ("related", index), f"related[{index}] points to the entry itself")
            elif related not in faq_ids:
                add("E311", ("related", index), f"related[{index}] '{related}' is not an FAQ entry")
        for index, tag in enumerate(entry.tags):
            _check_term(corpus, "tags", tag, f"tags[{index}]", ("tags", index), add)
        if entry.added is not None and entry.added > today:
            add("E307", ("added",), f"added {entry.added} is in the future (today is {today})")
    return problems


def _load_registry(kb_dir: Path) -> tuple[dict, Path | None] | None:
    """(METHODS, path of the registry file or None) for the reference_impl registry.

    A knowledge base that ships its own `reference_impl/registry.py` (this repository) is checked both ways
    (E308, E309). Elsewhere the installed registry is used for E308 only. The registry is plain data: loading
    it never imports torch.
    """
    import importlib.util
    import sys

    own = kb_dir / "reference_impl" / "registry.py"
    if own.is_file():
        spec = importlib.util.spec_from_file_location("_hftkb_kb_registry", own)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
        try:
            spec.loader.exec_module(module)
            return module.METHODS, own
        except Exception:  # a broken registry is the registry owner's to fix; fall back to the installed one
            pass
        finally:
            sys.modules.pop(spec.name, None)
    try:
        from reference_impl.registry import METHODS
    except ImportError:
        return None
    return METHODS, None
