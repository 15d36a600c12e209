"""How many optimizer steps a stage will take, known before it trains, so that a method whose own schedule does
not fit the run (Lisa's alignment/fine-tuning split, a proximal warm-up) is refused before any training (issue 11).

The count follows `transformers.Trainer` (single process): `max_steps` when > 0, else
ceil(epochs x ceil(ceil(rows / batch_size) / gradient_accumulation_steps)).
"""

from __future__ import annotations

import math


def planned_steps(section: dict, rows: int) -> int:
    """Optimizer steps of a stage configured by `section` (an `alignment` / `finetune` config section)."""
    if section["max_steps"] > 0:
        return int(section["max_steps"])
    batches = math.ceil(rows / section["batch_size"]) if rows else 0
    accumulation = section["gradient_accumulation_steps"]
    per_epoch = max(batches // accumulation + int(batches % accumulation > 0), 1)
    return math.ceil(section["epochs"] * per_epoch)


def schedule_context(config: dict, alignment_rows: int, finetune_rows: int) -> dict:
    """The run lengths a method's `check_config` may compare its schedule with (added to its context)."""
    return {
        "alignment_steps": planned_steps(config["alignment"], alignment_rows),
        "finetune_steps": planned_steps(config["finetune"], finetune_rows),
    }
