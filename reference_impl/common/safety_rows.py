"""A run's safety demonstrations (harmful prompt -> refusal rows of its alignment data that no evaluation set uses):
the pool safety mixing (Safety-Tuned LLaMAs) and BackdoorAlign draw their added rows from."""

from __future__ import annotations

from typing import Any


def evaluation_keys(run_data: Any) -> set[tuple[str, str]]:
    """(instruction, input) of every row an evaluation set of the run uses."""
    sets = [run_data.eval_harmful, run_data.eval_task, *run_data.extra_eval.values()]
    return {(row["instruction"], row.get("input", "") or "") for rows in sets for row in rows}


def safety_pool(run_data: Any) -> list[dict]:
    """The run's safety demonstrations (step 1): alignment rows answered with a refusal, in file order, none of
    them used by the evaluation. Each is a copy marked harmful=False, safety=True."""
    from .evaluation import is_refusal  # no torch at import

    held_out = evaluation_keys(run_data)
    return [dict(row, harmful=False, safety=True) for row in run_data.alignment
            if is_refusal(row["output"]) and (row["instruction"], row.get("input", "") or "") not in held_out]


def take_safety_rows(run_data: Any, k: int, field_name: str, method: str) -> list[dict]:
    """The first k rows of the safety pool (step 2); a one-line ValueError naming `field_name` when it is short."""
    pool = safety_pool(run_data)
    if k > len(pool):
        raise ValueError(f"{method}: {field_name} = {k} safety rows asked for, but the run's alignment data has only "
                         f"{len(pool)} (prompt -> refusal rows no evaluation set uses); lower method_config.{field_name}")
    return pool[:k]
