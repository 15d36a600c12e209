"""What a run offers a method, asked one way (the `context` a method's `check_config` and `post_process` receive).

`context` is the pipeline's mapping (NEED_KEYS in common/method.py -> a value, a description of a model, or None),
a collection of need names, or an object with `has(need)`, an `available` collection or `has_<need>` attributes.
A need is missing when its value is None, False or empty (an alignment set with no rows is no alignment set).
`context=None` is a direct call that names no run (a Trainer built by hand): nothing counts as missing there, the
method meets what it lacks when it runs.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping


def available(context: Any, need: str) -> bool:
    if context is None:
        return True
    if isinstance(context, Mapping):
        return bool(context.get(need))
    if isinstance(context, (set, frozenset, list, tuple)):
        return need in context
    if hasattr(context, "has"):
        return bool(context.has(need))
    offered = getattr(context, "available", None)
    if offered is not None:
        return need in offered
    return bool(getattr(context, f"has_{need}", getattr(context, need, False)))


def missing(context: Any, needs: Iterable[str]) -> list[str]:
    """The needs of `needs` that `context` does not offer, in order."""
    return [need for need in needs if not available(context, need)]


def require(context: Any, need: str, message: str) -> None:
    """ValueError(message) when `context` does not offer `need`."""
    if not available(context, need):
        raise ValueError(message)


def get(context: Any, name: str):
    """A value of the context, from a mapping or an object."""
    return context.get(name) if isinstance(context, Mapping) else getattr(context, name)
