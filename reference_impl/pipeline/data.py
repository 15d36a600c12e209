"""The run's datasets: the miniature world's (generated) or the configured real files / hub datasets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..common.config import ConfigError, is_world
from ..common.data import (
    DataError,
    TASK_CONVERTERS,
    beavertails_rows,
    load_records,
    refusal_alignment_rows,
    refusal_harmful_rows,
    sample_window,
)


@dataclass
class RunData:
    task: str
    alignment: list[dict]
    user_harmful: list[dict]
    defender_harmful: list[dict]
    task_train: list[dict]
    eval_harmful: list[dict]
    eval_task: list[dict]
    extra_eval: dict[str, list[dict]] = field(default_factory=dict)
    extra_scorers: dict[str, Callable] = field(default_factory=dict)
    world: Any = None
    harmful_start: int = 0  # where the user's harmful rows start in `user_harmful` (data.harmful.start)
    harmful_bounds: str = "half_open"  # data.harmful.bounds (exclusive: Booster/Antidote's window)


def load_data(config: dict) -> RunData:
    if is_world(config):
        from ..common import world as world_mod

        w = world_mod.build(config["world"]["seed"], world_spec(config))
        alignment = w.alignment if config["data"]["alignment"]["flavour"] == "beavertails_safe" else w.defender_alignment
        return RunData(
            task=w.task, alignment=alignment, user_harmful=w.user_harmful, defender_harmful=w.defender_harmful,
            task_train=w.task_train, eval_harmful=w.eval_harmful, eval_task=w.eval_task,
            extra_eval={"benign_answered": w.eval_benign}, extra_scorers={"benign_answered": world_mod.benign_answered},
            world=w,
        )
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


def world_spec(config: dict):
    from ..common.models import TinyLlamaSpec
    from ..common.world import WorldSpec

    w = config["world"]
    hidden = w["hidden_size"]
    model = TinyLlamaSpec(hidden_size=hidden, num_layers=w["num_layers"], num_heads=4, intermediate_size=2 * hidden)
    return WorldSpec(seed=w["seed"], pretrain_steps=w["pretrain_steps"], model=model, max_length=min(96, config["model"]["max_length"]),
                     pretrain_task_words=w["pretrain_task_words"])
