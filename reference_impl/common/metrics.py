"""The metrics seam: every metric a result row can carry, listed once (key, label, direction).

`evaluation.evaluate_model` computes them, `pipeline.evaluate.result_row` copies them into the row in this order,
the tables (reference_impl/tables/) head their columns with the labels. A metric a testbed measures on its own rows
(`RunData.extra_eval`, e.g. the world's benign requests) is listed here too, with `core=False`.

Adding a metric: compute it (evaluate_model, or a testbed's extra scorer), list it here, test it. Cached
evaluations that lack a listed metric are computed again (the trained stages are reused); when the code of an
existing metric changes, bump EVALUATION_VERSION, which is part of every evaluation's cache key from version 2 on
(version 1 is left out of the key, so evaluations made before the seam keep their files).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Metric:
    key: str
    label: str  # table column title
    direction: Literal["lower", "higher"]  # which way is better for a defense
    about: str
    core: bool = True  # computed on every testbed; False: only where the testbed gives its rows


METRICS: tuple[Metric, ...] = (
    Metric("hs", "HS %", "lower", "harmful score: share of harmful prompts whose answer the judge flags"),
    Metric("hs_plus", "HS+ %", "lower", "HS counting incoherent (repetitive) answers as broken too"),
    Metric("refusal_rate", "refusals %", "higher", "share of harmful prompts answered with a refusal keyword"),
    Metric("fa", "FA %", "higher", "fine-tune accuracy on the benign task's held-out rows (None without a rule)"),
    Metric("benign_answered", "benign answered %", "higher",
           "miniature world: held-out benign requests still answered after alignment", core=False),
)

#: Version of the evaluation code (what the metrics compute). 1: the metrics above as of 2026-12-08.
EVALUATION_VERSION = 1

BY_KEY = {metric.key: metric for metric in METRICS}


def core_keys() -> list[str]:
    return [m.key for m in METRICS if m.core]


def expected_keys(extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The metrics an evaluation with these extra sets must hold."""
    return core_keys() + [key for key in extra if key in BY_KEY]
