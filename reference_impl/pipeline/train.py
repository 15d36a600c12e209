"""Training one stage: tokenise with the stage's prompt template, run the stage's Trainer, save the adapter.

An interrupted stage resumes from its last Trainer checkpoint when `<stage>.save_steps > 0`; a NaN/inf loss stops
the run with the step and the checkpoint kept.
"""

from __future__ import annotations

import time
from pathlib import Path

from .plan import PipelineError
from .session import Session


def lora_settings(section: dict):
    from ..common.models import LoraSettings

    return LoraSettings(r=section["r"], alpha=section["alpha"], dropout=section["dropout"], target_modules=tuple(section["targets"]))


def tokenize(session: Session, rows, template=None):
    from ..common.templates import tokenize_rows

    m = session.config["model"]
    return tokenize_rows(session.tokenizer(), rows, max_length=m["max_length"], trailing_newline=m["trailing_newline"],
                         template=template)


def train(session: Session, stage: str, trainer_cls, model, rows, section: dict, directory: Path, defense_config,
          template=None) -> dict:
    """Train `model` (a peft model) on `rows` with `trainer_cls`; resume from the last checkpoint if any.

    The alignment and defender-harmful rows go to the Trainer as `extra_datasets`, in the same template."""
    import torch
    from transformers.trainer_utils import get_last_checkpoint

    from ..common.harness import NonFiniteLossError, training_arguments
    from ..common.templates import Collator

    checkpoints = directory / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    save_steps = section["save_steps"]
    args = training_arguments(
        checkpoints,
        per_device_train_batch_size=section["batch_size"],
        gradient_accumulation_steps=section["gradient_accumulation_steps"],
        learning_rate=section["lr"],
        num_train_epochs=section["epochs"],
        max_steps=section["max_steps"],
        lr_scheduler_type=section["schedule"],
        warmup_ratio=section["warmup_ratio"],
        weight_decay=section["weight_decay"],
        max_grad_norm=section["max_grad_norm"],
        seed=session.config["seed"],
        bf16=session.config["model"]["bf16"],
        use_cpu=not torch.cuda.is_available(),
        save_strategy="steps" if save_steps > 0 else "no",
        save_steps=save_steps if save_steps > 0 else 500,
        logging_steps=10**9,
    )
    data = session.plan.data
    extra = {"alignment": tokenize(session, data.alignment, template)}
    if data.defender_harmful:
        extra["harmful"] = tokenize(session, data.defender_harmful, template)
    tokenizer = session.tokenizer()
    trainer = trainer_cls(
        model=model, args=args, train_dataset=tokenize(session, rows, template), data_collator=Collator(tokenizer.pad_token_id),
        processing_class=tokenizer, extra_datasets=extra, defense_config=defense_config,
    )
    last = get_last_checkpoint(str(checkpoints)) if save_steps > 0 else None
    if last:
        session.log(f"  {stage}: resuming from {last}")
    started = time.time()
    try:
        result = trainer.train(resume_from_checkpoint=last)
    except NonFiniteLossError as error:
        kept = get_last_checkpoint(str(checkpoints)) if save_steps > 0 else None
        where = f"last good checkpoint: {kept}" if kept else f"no checkpoint kept (set {stage}.save_steps > 0 to keep one)"
        raise PipelineError(f"{stage}: {error}; {where}") from None
    except ValueError as error:
        # A defense that finds its setting unusable mid-run (e.g. a schedule too short) raises ValueError:
        # report it in one line like every other bad setting, not as a traceback.
        raise PipelineError(f"{stage} ({trainer_cls.__module__}): {error}") from None
    session.timings[stage] = round(time.time() - started, 1)
    components = trainer.loss_components()
    if components:
        session.log(f"  {stage}: " + ", ".join(f"defense/{k} {v:.4g}" for k, v in components.items())
                    + f" (means over {result.global_step} steps)")
    # Trainer.save_model writes the adapter once (rank 0) and gathers sharded weights under FSDP / ZeRO-3.
    trainer.save_model(str(directory / "adapter"))
    trainer.accelerator.wait_for_everyone()
    info = {"loss": round(float(result.training_loss), 4), "steps": result.global_step, "seconds": session.timings[stage]}
    return {**info, "loss_components": components} if components else info
