"""One record against the schema: pydantic's verdict as `Problem`s, each at the line of its value.

`validate_record` runs pydantic on one loaded record (a paper, an FAQ entry or a vocabulary term) and turns each
error into a `Problem` with the line of the value (or of the unknown key). For a paper that the schema accepts,
`paper_problems` then checks what pydantic cannot say in one field: an author list that is one string or cut
short with "et al." (E207, E208). The corpus checks, which need every record, are in hftkb.checks.

Order of the package (tests/hftkb/test_import_cycles.py keeps it free of cycles): models (the schema) ->
completeness (the rules of a complete record) -> yamlio (files, positions) -> records (one record) -> corpus
(loading and the index) -> checks (across records) -> validate (load + check) -> strict (`validate --strict`).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from hftkb.models import Paper
from hftkb.problems import Problem
from hftkb.yamlio import Positions


def validate_record(model: type[BaseModel], data: Any, positions: Positions, where: str, loc: tuple = ()) -> tuple[Any, list[Problem]]:
    """(record, []) when `data` is valid, else (None, problems); a paper with only `paper_problems` comes back
    with them: (record, problems). `loc` locates `data` inside its file."""
    if not isinstance(data, dict):
        line = positions.line(loc)
        what = "a vocabulary term" if loc else "a record"
        return None, [Problem(where, line, "E110", f"{what} must be a mapping of keys to values, not {_describe(data)}")]
    try:
        record = model.model_validate(data)
    except ValidationError as err:
        return None, [_problem_from_error(e, model, positions, where, loc) for e in err.errors(include_url=False)]
    # A paper that the schema accepts may still contradict itself: kept in the corpus, its problems reported.
    return record, paper_problems(record, positions, where) if isinstance(record, Paper) else []


def _problem_from_error(error: dict, model: type[BaseModel], positions: Positions, where: str, base: tuple) -> Problem:
    kind = error["type"]
    loc = base + tuple(error["loc"])
    field = _dotted(error["loc"]) or "record"
    value = error.get("input")
    if kind == "missing":
        line, column = positions.locate(loc[:-1], key=True)
        return Problem(where, line, "E201", f"missing required field '{field}'", column)
    if kind == "extra_forbidden":
        line, column = positions.locate(loc, key=True)
        allowed = _fields_at(model, tuple(error["loc"])[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
        return Problem(where, line, "E202", f"unknown key '{field}'{suggestion}", column)
    line, column = positions.locate(loc)
    if loc == ("authors",) and kind == "list_type" and isinstance(value, str):
        return Problem(where, line, "E207", f"authors: one string ({_short(value)}), not a list: write one name per "
                       "item, in paper order (authors: [Given Family, ...])", column)
    if kind.endswith("_type") and loc in positions.plain and kind in ("string_type", "date_type"):
        written = positions.plain[loc]
        key = loc[-1] if isinstance(loc[-1], str) else field
        return Problem(
            where, line, "E205",
            f"{field}: YAML reads {written} as {_describe(value)}; quote it to keep it as text: {key}: '{written}'",
            column,
        )
    if kind == "value_error" and "http(s) URL" in error["msg"]:
        return Problem(where, line, "E206", f"{field}: {error['msg'].removeprefix('Value error, ')}", column)
    if kind.endswith("_type") or kind in ("is_instance_of", "model_attributes_type", "date_from_datetime_inexact"):
        hint = " (write dates unquoted, as YYYY-MM-DD)" if kind == "date_type" and isinstance(value, str) else ""
        return Problem(where, line, "E203", f"{field}: {error['msg'].lower()}, got {_describe(value)}{hint}", column)
    message = error["msg"].removeprefix("Value error, ")
    return Problem(where, line, "E204", f"{field}: {message[:1].lower()}{message[1:]} (got {_short(value)})", column)


# ---------------------------------------------------------------------------------------------------------
# What the schema cannot say about a paper

#: "et al.", "et al", "others", "and others": the list is cut short (E208).
_TRUNCATED = re.compile(r"\bet\.?\s*al\b\.?|^(?:and\s+)?others$|\band\s+others\b", re.IGNORECASE)
#: Separators of several names in one item: "A B and C D", "A B; C D", "A B & C D" (E207).
_JOINED = re.compile(r"\s(?:and|&)\s|;", re.IGNORECASE)


def paper_problems(paper: Paper, positions: Positions, where: str) -> list[Problem]:
    """E207/E208 for the author list, each at the line of the name."""
    problems = []
    for index, name in enumerate(paper.authors):
        # Positions are located only for a problem: a cached parse computes them from the text on first use.
        if _TRUNCATED.search(name):
            line, column = positions.locate(("authors", index))
            problems.append(Problem(where, line, "E208", f"authors[{index}]: {name!r} cuts the list short: give every "
                                    "author, in paper order", column))
        elif _holds_several_names(name):
            line, column = positions.locate(("authors", index))
            problems.append(Problem(where, line, "E207", f"authors[{index}]: {name!r} holds several names: one name "
                                    "per item", column))
    return problems


def _holds_several_names(name: str) -> bool:
    """'A B, C D' or 'A B and C D' is two names; 'Family, Given' and 'King, Jr.' are one."""
    if _JOINED.search(name) or name.count(",") >= 2:
        return True
    if "," in name:
        before, after = (part.split() for part in name.split(",", 1))
        return len(before) >= 2 and len(after) >= 2
    return False


def _dotted(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "text", list: "a list", dict: "a mapping",
             dt.date: "a date", dt.datetime: "a date and time"}
    return f"{names.get(type(value), type(value).__name__)} ({_short(value)})"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the sub-model found at `loc` (for "did you mean" hints)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return []
        current = _inner_model(current.model_fields[part].annotation)
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


