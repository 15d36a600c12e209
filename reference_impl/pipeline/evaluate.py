"""Evaluation of one model (HS, HS+, refusals, FA and the world's extra metrics), cached per model and settings,
with the method's evaluation prompt template (MethodSpec.eval_template, else its train_template); under an attack
that queries with its own prompt (AttackSpec.query_template) the harmful prompts use that one, combined with the
method's (`common.method.attack_query_template`)."""

from __future__ import annotations

import json
import time
from typing import Callable

from ..attacks import DEFAULT_ATTACK
from ..common.metrics import EVALUATION_VERSION, core_keys, expected_keys
from ..common.templates import PLAIN
from .align import config_dict
from .session import Session, fingerprint


def eval_template(session: Session):
    """The method's evaluation template under its Config (resolved by `prepare`: MethodSpec.eval_template, else
    its train_template)."""
    return session.plan.eval_template


def moderation(session: Session):
    """The testbed's judge at the evaluation threshold."""
    return session.plan.testbed.judge(session.config, session.plan.data, session.config["evaluation"]["threshold"])


def evaluate(session: Session, label: str, payload: dict, load: Callable) -> dict:
    """Metrics of one model, cached in `stages/eval-<label>-<hash>.json`."""
    from ..common.evaluation import evaluate_model
    from ..common.models import merge_lora

    ev, d = session.config["evaluation"], session.plan.data
    template = eval_template(session)
    # Whether the run also evaluates its aligned model (`evaluation.aligned`) does not change this model's metrics:
    # the key is hashed as False, so turning it on reuses a finished evaluation of the final model.
    eval_payload = {"model": fingerprint(payload), "evaluation": {**ev, "aligned": False}, "task": d.task,
                    "sizes": [len(d.eval_harmful), len(d.eval_task)]}
    if template != PLAIN:  # only when set, so that evaluations made before the template seam keep their hashes
        eval_payload["prompt_template"] = config_dict(template)
    query = session.plan.query_template  # the attacker's prompt on the harmful queries (identity shift, pure bad)
    if query is not None:  # likewise only when the attack declares one
        eval_payload["query_template"] = config_dict(query)
    if EVALUATION_VERSION != 1:  # left out at 1, so that evaluations made before the metrics seam keep their files
        eval_payload["evaluation_version"] = EVALUATION_VERSION
    path = session.stages / f"eval-{label}-{fingerprint(eval_payload)}.json"
    if path.exists():
        cached = json.loads(path.read_text())
        missing = [key for key in expected_keys(list(d.extra_eval)) if key not in cached["metrics"]]
        if not missing:
            return cached
        session.log(f"evaluation ({label}): the cached one lacks {', '.join(missing)}; evaluating again")
    started = time.time()
    model = merge_lora(load())
    result = evaluate_model(
        model, session.tokenizer(), harmful_prompts=d.eval_harmful, task=d.task, task_rows=d.eval_task,
        moderation=moderation(session), max_new_tokens=ev["max_new_tokens"], task_max_new_tokens=ev["task_max_new_tokens"],
        batch_size=ev["batch_size"], trailing_newline=session.config["model"]["trailing_newline"],
        extra_sets=d.extra_eval, extra_scorers=d.extra_scorers, template=template,
        harmful_template=query,
    )
    result["seconds"] = round(time.time() - started, 1)
    path.write_text(json.dumps(result, indent=1))
    return result


def result_row(session: Session, stage: str, ratio, result: dict, losses: dict | None = None) -> dict:
    """One results row; `losses`: the defense's loss components per stage it trained (`defense_losses`)."""
    config, plan = session.config, session.plan
    testbed = plan.testbed
    m = result["metrics"]
    row = {
        "method": plan.method.name,
        "paper": plan.method.paper,
        "testbed": testbed.row_name(config),
        "judge": testbed.judge_name(config),
        "stage": stage,
        "harmful_ratio": ratio,
        "num_samples": config["finetune"]["num_samples"],
        **{key: m[key] for key in core_keys()},  # common/metrics.py: the metrics, in their order
        "task": plan.data.task,
        "model": testbed.model_name(config),
        "seed": config["seed"],
    }
    for key in plan.data.extra_eval:
        row[key] = m.get(key)
    row.update(testbed.row_fields(config))
    if losses:
        row["defense_losses"] = losses
    if config["finetune"]["attack"] != DEFAULT_ATTACK:  # rows made before the attack seam have no such key
        row["attack"] = config["finetune"]["attack"]
        # What reached fine-tuning: after Virus's upload filter, how many poisoned rows the guardrail let through.
        row["trained_rows"] = len(plan.mixture)
        row["trained_harmful"] = sum(1 for r in plan.mixture if r.get("harmful"))
        if plan.query_template is not None:  # the harmful questions were asked with the attack's own prompt
            row["query_prompt"] = True
    return row
