"""The post-fine-tuning stage: the method's `post_process(model, tokenizer, *, config, data, context)` runs on the
fine-tuned model (aligned base + fine-tuning LoRA, as a peft model) and returns a new model, saved merged.

`context` holds every NEED_KEYS key (reference_impl/common/method.py); the models are loaded only for the needs
the method declares (7B each on a real run), the others are None.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..common.method import NEED_KEYS
from .align import config_dict
from .plan import PipelineError
from .session import Session, fingerprint, mark_done


def needs_context(session: Session, align_dir: Path | None) -> dict:
    plan = session.plan
    needs, data = set(plan.spec.needs), plan.data
    context = dict.fromkeys(NEED_KEYS)
    context.update(alignment_data=data.alignment, harmful_data=data.defender_harmful)
    if needs & {"base_model", "unaligned_model"}:  # the same weights: one copy serves both keys
        base = session.load_base()
        context.update({key: base for key in needs & {"base_model", "unaligned_model"}})
    if align_dir is not None and "aligned_model" in needs:
        context["aligned_model"] = session.load_aligned(align_dir)
    if align_dir is not None and "safety_adapter" in needs:
        context["safety_adapter"] = align_dir / "adapter"
    context.update(tokenizer=session.tokenizer(), max_length=session.config["model"]["max_length"],
                   trailing_newline=session.config["model"]["trailing_newline"], template=plan.train_template)
    return context


def post_stage(session: Session, ft_payload: dict, align_dir: Path | None, ft_dir: Path, mode: str):
    """(payload, directory of the saved model), or (None, None) for a method without post-processing."""
    plan = session.plan
    apply = plan.post_function()
    if apply is None:
        return None, None
    name = plan.method.name
    payload = {"finetune": fingerprint(ft_payload), "method": name, "method_config": config_dict(plan.method_config)}
    if plan.spec.version != 1:
        payload["method_version"] = plan.spec.version
    directory = session.stage_dir("post", name, payload)
    if (directory / "DONE").exists():
        session.log(f"post-fine-tuning ({name}): done already -> {directory}")
        return payload, directory
    from ..common.models import merge_lora

    started = time.time()
    model = session.load_finetuned(align_dir, ft_dir, mode)
    context = needs_context(session, align_dir)
    session.seed()  # after every model is loaded (see `Session.seed`)
    try:
        new = apply(model, session.tokenizer(), config=plan.method_config,
                    data={"alignment": plan.data.alignment, "harmful": plan.data.defender_harmful}, context=context)
    except ValueError as error:
        raise PipelineError(f"post-fine-tuning ({name}): {error}") from None
    merge_lora(new).save_pretrained(directory / "model")
    session.timings["post_fine_tuning"] = round(time.time() - started, 1)
    mark_done(directory, {"seconds": session.timings["post_fine_tuning"]})
    session.log(f"post-fine-tuning ({name}): done in {session.timings['post_fine_tuning']}s")
    return payload, directory
