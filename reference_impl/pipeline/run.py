"""The pipeline: align -> fine-tune on the user's data -> post-process -> evaluate .

`prepare(config)` (plan.py) checks everything that can be checked without training and returns a `Plan`;
`execute(plan, out_dir)` runs the stages (align.py, finetune.py, post.py, evaluate.py), each reusing its finished
directory; `run` does both. What a method changes is read from its `MethodSpec` alone (common/method.py).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from .align import alignment_stage
from .evaluate import evaluate, result_row
from .finetune import finetune_stage
from .plan import Plan, build_mixture, prepare
from .post import post_stage
from .session import Session, is_main_process, loss_components


def execute(plan: Plan, out_dir: str | Path, log: Callable[[str], None] = print) -> list[dict]:
    """Run every stage of `plan` under `out_dir`; returns the result rows (see `evaluate.result_row`)."""
    session = Session(plan, out_dir, log=log)
    session.setup_torch()
    started = time.time()
    ft = session.config["finetune"]
    if plan.testbed.before_training(session.config, plan.data, session.out, lambda: (session.load_base(), session.tokenizer()),
                                    log):  # rows answered at run time (SmolLM2: the unaligned model's own answers)
        plan.mixture = build_mixture(plan)
    align_payload, align_dir = alignment_stage(session)
    ft_payload, ft_dir, mode = finetune_stage(session, align_payload, align_dir)
    if not is_main_process():
        return []  # under accelerate launch / torchrun, rank 0 alone post-processes and evaluates
    rows = []
    # The defense's loss components (means over its steps), per stage it trained: kept in the result row.
    losses = {stage: c for stage, c in (("alignment", loss_components(align_dir)), ("fine_tuning", loss_components(ft_dir))) if c}
    if session.config["evaluation"]["aligned"]:
        result = evaluate(session, "aligned", align_payload, lambda: session.load_aligned(align_dir))
        aligned_losses = {k: v for k, v in losses.items() if k == "alignment"}
        rows.append(result_row(session, "aligned" if align_dir else "base", None, result, aligned_losses))
    post_payload, post_dir = post_stage(session, ft_payload, align_dir, ft_dir, mode)
    if post_dir is not None:
        from transformers import AutoModelForCausalLM

        final = evaluate(session, "final", post_payload, lambda: AutoModelForCausalLM.from_pretrained(post_dir / "model"))
    else:
        final = evaluate(session, "final", ft_payload, lambda: session.load_finetuned(align_dir, ft_dir, mode))
    rows.append(result_row(session, "final", ft["harmful_ratio"], final, losses))
    log(f"{plan.method.name} p={ft['harmful_ratio']}: " + ", ".join(
        f"{k}={v}" for k, v in final["metrics"].items()) + f"  ({time.time() - started:.0f}s)")
    return rows


def run(config: dict, out_dir: str | Path, log: Callable[[str], None] = print) -> list[dict]:
    """Check the config, then run every stage; returns the result rows."""
    return execute(prepare(config, Path(out_dir) / "cache", log=log), out_dir, log=log)
