"""The user's fine-tuning: a new LoRA on the merged aligned model (or the alignment LoRA itself, "continue"),
trained on the plan's rows (the attack's, passed through the method's `finetune_data`) with plain SFT or the
method's Trainer (MethodSpec.stage == "fine_tuning"), in the method's train template."""

from __future__ import annotations

from pathlib import Path

from ..attacks import DEFAULT_ATTACK
from ..common.method import EVALUATION_ONLY_FIELDS
from ..common.templates import PLAIN
from .align import config_dict
from .plan import PipelineError
from .session import Session, fingerprint, mark_done
from .train import lora_settings, train


def lora_mode(session: Session, align_dir: Path | None) -> str:
    mode = session.config["finetune"]["lora_mode"]
    if mode == "auto":
        mode = session.plan.spec.finetune_lora
    return "new" if align_dir is None else mode


def finetune_payload(session: Session, align_payload: dict, name: str, own: bool, mode: str) -> dict:
    """What the stage's hash covers. Keys added by the method/attack seams enter it only when they differ from the
    defaults, so that stage directories (and results) made before the seams keep their hashes."""
    config, plan = session.config, session.plan
    ft = {k: v for k, v in config["finetune"].items() if k not in ("attack", "attack_config")}
    payload = {
        "alignment": fingerprint(align_payload), "method": name, "method_config": config_dict(plan.method_config) if own else {},
        "train": ft, "mode": mode, "seed": config["seed"],
        "data": plan.testbed.data_identity(config, "finetune"),
    }
    if config["finetune"]["attack"] != DEFAULT_ATTACK or config["finetune"]["attack_config"]:
        rows_config = {k: v for k, v in config_dict(plan.attack_config).items() if k not in EVALUATION_ONLY_FIELDS}
        payload["attack"] = [config["finetune"]["attack"], rows_config]
    if plan.train_template != PLAIN:
        payload["prompt_template"] = config_dict(plan.train_template)
    if own and plan.spec.version != 1:
        payload["method_version"] = plan.spec.version
    return payload


def finetune_stage(session: Session, align_payload: dict, align_dir: Path | None):
    """(payload, directory, LoRA mode) of the fine-tuning adapter."""
    from ..common.harness import HFTTrainer
    from ..common.models import add_lora, load_lora

    plan, config = session.plan, session.config
    trainer_cls = plan.stage_trainer("fine_tuning")
    spec = plan.spec
    # The method owns this stage when it changes anything about it: its Trainer, its rows or its template.
    own = trainer_cls is not None or spec.finetune_data is not None or plan.train_template != PLAIN
    name = plan.method.name if own else "sft"
    mode = lora_mode(session, align_dir)
    ft = config["finetune"]
    payload = finetune_payload(session, align_payload, name, own, mode)
    directory = session.stage_dir("finetune", f"{name}-p{ft['harmful_ratio']}", payload)
    if (directory / "DONE").exists():
        session.log(f"fine-tuning ({name}, p={ft['harmful_ratio']}): done already -> {directory}")
        return payload, directory, mode
    harmful = sum(1 for row in plan.mixture if row.get("harmful"))
    session.log(f"fine-tuning ({name}, {mode} LoRA): {len(plan.mixture)} rows, {harmful} harmful (p={ft['harmful_ratio']})")
    if mode == "continue":
        base = session.load_base()
        session.seed()
        model = load_lora(base, align_dir / "adapter", trainable=True)
    else:
        aligned = session.load_aligned(align_dir)
        session.seed()
        model = add_lora(aligned, lora_settings(ft["lora"]))
    if not plan.mixture:
        raise PipelineError("finetune: the user's mixture is empty (num_samples = 0)")
    info = train(session, "finetune", trainer_cls or HFTTrainer, model, plan.mixture, ft, directory,
                 plan.method_config if own else None, template=plan.train_template)
    mark_done(directory, info)
    session.log(f"fine-tuning ({name}): loss {info['loss']} in {info['seconds']}s")
    return payload, directory, mode
