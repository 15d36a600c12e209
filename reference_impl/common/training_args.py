"""`training_arguments`: the `TrainingArguments` every stage of this package trains with."""

from __future__ import annotations


def training_arguments(output_dir, **overrides):
    """`TrainingArguments` with the defaults a run of this package wants (no reporting, no unused-column pruning).

    The git-disl scripts pass `optim=adamw_torch`, a seed of 43 and `--bf16 --tf32` on GPUs (site/reference/protocol.md, 'LoRA settings').
    """
    from transformers import TrainingArguments

    settings = dict(
        output_dir=str(output_dir),
        report_to="none",
        remove_unused_columns=False,
        optim="adamw_torch",
        seed=43,
        save_strategy="no",
        logging_strategy="steps",
        logging_steps=10,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    settings.update(overrides)
    # transformers 5 folded `warmup_ratio` into `warmup_steps` (a float < 1 is a ratio); older versions have both.
    fields = getattr(TrainingArguments, "__dataclass_fields__", {})
    if "warmup_ratio" in settings and "warmup_ratio" not in fields:
        ratio = settings.pop("warmup_ratio")
        if ratio:
            if not 0 < ratio < 1:
                raise ValueError(f"warmup ratio must be in [0, 1), got {ratio}")
            settings["warmup_steps"] = float(ratio)
    return TrainingArguments(**settings)
