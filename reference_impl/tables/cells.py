"""Cell formatting shared by the renderers."""

from __future__ import annotations

import statistics


def number(value) -> str:
    return "–" if value is None else f"{value:.1f}"


def mean(values: list) -> str:
    values = [v for v in values if v is not None]
    return number(statistics.mean(values)) if values else "–"


def spread(values: list) -> str:
    """One value, or the mean and [min–max] of several (seeds)."""
    if len(values) == 1:
        return number(values[0])
    return f"{mean(values)} [{min(values):g}–{max(values):g}]"


def measured_by(document: dict) -> str:
    """The line naming where a table's numbers come from."""
    return f"{document.get('machine', '')}, {document.get('date', '')}; `{document.get('command', '')}`"
