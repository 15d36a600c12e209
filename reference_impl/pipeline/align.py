"""The alignment stage: LoRA on the alignment set with plain SFT, or with the method's Trainer when the method is
an alignment-stage defense (MethodSpec.stage == "alignment"). Methods with `aligned=False` skip it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .session import Session, mark_done
from .train import lora_settings, train


def config_dict(obj) -> dict:
    return dataclasses.asdict(obj) if obj is not None and dataclasses.is_dataclass(obj) else {}


def alignment_stage(session: Session) -> tuple[dict, Path | None]:
    """(payload, directory) of the alignment adapter, or (payload, None) when the method skips alignment."""
    from ..common.harness import HFTTrainer
    from ..common.models import add_lora

    plan, config = session.plan, session.config
    if not plan.spec.aligned:
        return {"base": session.base_identity(), "aligned": False}, None
    trainer_cls = plan.stage_trainer("alignment")
    own = trainer_cls is not None
    name = plan.method.name if own else "sft"
    payload = {
        "base": session.base_identity(), "method": name, "method_config": config_dict(plan.method_config) if own else {},
        "train": config["alignment"], "data": plan.testbed.data_identity(config, "alignment"),
        "seed": config["seed"], "template": [config["model"]["max_length"], config["model"]["trailing_newline"]],
    }
    if own and plan.spec.version != 1:
        payload["method_version"] = plan.spec.version
    directory = session.stage_dir("align", name, payload)
    if (directory / "DONE").exists():
        session.log(f"alignment ({name}): done already -> {directory}")
        return payload, directory
    session.log(f"alignment ({name}): {len(plan.data.alignment)} rows, LoRA r={config['alignment']['lora']['r']}")
    base = session.load_base()
    session.seed()
    model = add_lora(base, lora_settings(config["alignment"]["lora"]))
    info = train(session, "alignment", trainer_cls or HFTTrainer, model, plan.data.alignment, config["alignment"], directory,
                 plan.method_config if own else None)
    mark_done(directory, info)
    session.log(f"alignment ({name}): loss {info['loss']} in {info['seconds']}s")
    return payload, directory
