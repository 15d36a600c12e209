"""Real models and datasets (a paper-scale run, e.g. configs/llama2_sst2.yaml): `model.base` is a local path or a
hub id, the data sections name local files or hub datasets, and beaver-dam-7b (or a local copy) judges."""

from __future__ import annotations

from pathlib import Path

from ..common.config import ConfigError, where
from ..common.data import (
    TASK_CONVERTERS,
    DataError,
    beavertails_rows,
    load_records,
    refusal_alignment_rows,
    refusal_harmful_rows,
    sample_window,
)
from .base import RunData, named_base_identity, named_data_identity


def check_models(config: dict) -> None:
    from ..common.models import check_model_source

    moderation = config["evaluation"]["moderation"]
    sources = [(f"model.{key}", config["model"][key]) for key in ("base", "tokenizer") if config["model"][key]]
    for location, source in sources + [("evaluation.moderation", moderation)]:
        if source == "rules":
            raise ConfigError("evaluation.moderation: 'rules' is the miniature world's judge; give beaver-dam-7b's path or hub id")
        try:
            check_model_source(source)
        except FileNotFoundError as error:
            raise ConfigError(f"{location}: {error}") from None


def load_data(config: dict) -> RunData:
    d = config["data"]

    def read(section: dict, source_key: str = "source", split_key: str = "split", subset=None):
        try:
            return load_records(section[source_key], split=section.get(split_key), subset=subset)
        except DataError as error:
            raise ConfigError(str(error)) from None

    def convert(rows, flavour, source, purpose):
        if flavour == "beavertails_safe":
            return beavertails_rows(rows, safe=True, source=source)
        if flavour == "beavertails_unsafe":
            return beavertails_rows(rows, safe=False, source=source)
        return refusal_alignment_rows(rows, source=source) if purpose == "alignment" else refusal_harmful_rows(rows, source=source)

    try:
        a, h, dh, t, e = d["alignment"], d["harmful"], d["defender_harmful"], d["task"], d["eval_harmful"]
        alignment = sample_window(convert(read(a), a["flavour"], a["source"], "alignment"), a["start"], a["start"] + a["num"], bounds=a["bounds"])
        user_harmful = convert(read(h), h["flavour"], h["source"], "harmful")
        defender = convert(read(dh), dh["flavour"], dh["source"], "harmful")
        defender = sample_window(defender, dh["start"], dh["start"] + dh["num"], bounds=dh["bounds"]) if dh["num"] else []
        converter = TASK_CONVERTERS[t["name"]]
        task_train = converter(read(t, "train", "train_split", t["subset"]), source=t["train"])
        eval_task = converter(read(t, "eval", "eval_split", t["subset"]), source=t["eval"])[: d["eval_task_num"]]
        eval_harmful = beavertails_rows(read(e), safe=False if e["unsafe_only"] else None, source=e["source"])[: e["num"]]
    except (DataError, ValueError) as error:
        raise ConfigError(str(error)) from None
    return RunData(task=t["name"], alignment=alignment, user_harmful=user_harmful, defender_harmful=defender,
                   task_train=task_train, eval_harmful=eval_harmful, eval_task=eval_task,
                   harmful_start=h["start"], harmful_bounds=h["bounds"])


class Hub:
    def handles(self, config: dict) -> bool:
        return True  # asked last: whatever the other testbeds do not take

    def row_name(self, config: dict) -> str:
        return config.get("testbed") or str(config["model"]["base"])

    def check(self, config: dict) -> None:
        check_models(config)

    def check_guardrail(self, config: dict, attack: str) -> None:
        source = config["evaluation"]["moderation"]
        location = where(config, ("evaluation", "moderation"))
        if source == "keywords":  # KeywordJudge needs no model
            return
        if source == "rules":
            raise ConfigError(f"{location}: finetune.attack {attack} needs a guardrail; 'rules' is the miniature world's judge")
        from ..common.models import check_model_source

        try:
            check_model_source(source)
        except FileNotFoundError as error:
            raise ConfigError(f"{location}: finetune.attack {attack} needs its guardrail model: {error}") from None

    def load_data(self, config: dict) -> RunData:
        return load_data(config)

    def base_identity(self, config: dict, data: RunData) -> dict:
        return named_base_identity(config)

    def data_identity(self, config: dict, stage: str):
        return named_data_identity(config, stage)

    def load_base(self, config: dict, data: RunData, cache_dir: Path, log):
        from ..common.models import load_model, load_tokenizer, prepare_pad_token

        m = config["model"]
        tokenizer = load_tokenizer(m["tokenizer"] or m["base"], model_max_length=m["max_length"])
        model = load_model(m["base"], dtype=m["dtype"], device_map=m["device_map"])
        prepare_pad_token(tokenizer, model)
        return model, tokenizer

    def judge(self, config: dict, data: RunData, threshold: float):
        from ..common.moderation import BeaverDam, KeywordJudge

        ev = config["evaluation"]
        if ev["moderation"] == "keywords":
            return KeywordJudge(threshold=threshold)
        return BeaverDam(ev["moderation"], threshold=threshold, batch_size=ev["batch_size"])

    def judge_name(self, config: dict) -> str:
        return config["evaluation"]["moderation"]

    def model_name(self, config: dict) -> str:
        return config["model"]["base"]

    def row_fields(self, config: dict) -> dict:
        return {}

    def before_training(self, config, data, out_dir, load_base, log) -> bool:
        return False


TESTBED = Hub()
