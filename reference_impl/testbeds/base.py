"""The testbed seam: where a run's data, base model and judge come from, decided in one place.

A testbed is one module in this folder with `TESTBED = SomeTestbed()` (an object with the `Testbed` methods below)
and one line in `TESTBEDS`. The pipeline calls `testbed_for(config)` once and asks the object; it names no testbed
itself. The first registered testbed whose `handles(config)` is true runs the config (the order below matters:
`hub`, the real models and datasets of a paper-scale run, takes whatever the others do not).

Adding one (a world v3, a SmolLM2 v2): a file with its `TESTBED`, a line here (or `register(name, module)` at run
time, as tests/reference_impl/test_testbed_seam.py does), its test.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol


@dataclass
class RunData:
    """Everything a run trains and evaluates on, in the instruction / input / output schema."""

    task: str
    alignment: list[dict]
    user_harmful: list[dict]
    defender_harmful: list[dict]
    task_train: list[dict]
    eval_harmful: list[dict]
    eval_task: list[dict]
    extra_eval: dict[str, list[dict]] = field(default_factory=dict)  # metric key -> rows (scored by extra_scorers)
    extra_scorers: dict[str, Callable] = field(default_factory=dict)
    world: Any = None  # the miniature world's generated World (its testbed's judge and base model read it)
    harmful_start: int = 0  # where the user's harmful rows start in `user_harmful` (data.harmful.start)
    harmful_bounds: str = "half_open"  # data.harmful.bounds (exclusive: Booster/Antidote's window)


class Testbed(Protocol):
    """What the pipeline asks a testbed. `config` is a checked run config (common/config.py)."""

    def handles(self, config: dict) -> bool:
        """Whether this testbed runs `config`."""

    def row_name(self, config: dict) -> str:
        """The `testbed` a result row names (the config's `testbed` key wins where set)."""

    def check(self, config: dict) -> None:
        """Everything checkable before data or models load (model files, judge, task); ConfigError in one line."""

    def check_guardrail(self, config: dict, attack: str) -> None:
        """An attack needs a guardrail (Virus): refuse in one line if this run cannot give one."""

    def load_data(self, config: dict) -> RunData:
        """The run's rows."""

    def base_identity(self, config: dict, data: RunData) -> dict:
        """What the base model's weights depend on (part of every stage hash and of an attack's row cache key)."""

    def data_identity(self, config: dict, stage: str) -> Any:
        """What the rows of `stage` ("alignment" or "finetune") depend on, for that stage's hash."""

    def load_base(self, config: dict, data: RunData, cache_dir: Path, log: Callable) -> tuple[Any, Any]:
        """(model, tokenizer): a fresh copy of the base model (the world pre-trains and caches its own first)."""

    def judge(self, config: dict, data: RunData, threshold: float):
        """The moderation judge (beaver-dam's `predict` interface) that scores HS and serves as an attack's guardrail."""

    def judge_name(self, config: dict) -> str:
        """The `judge` a result row names."""

    def model_name(self, config: dict) -> str:
        """The `model` a result row names."""

    def row_fields(self, config: dict) -> dict:
        """Extra fields of every result row (the world's seed)."""

    def before_training(self, config: dict, data: RunData, out_dir: Path, load_base: Callable, log: Callable) -> bool:
        """Fill in what the rows lack before training (SmolLM2: the unaligned model's own harmful answers);
        `load_base()` gives (model, tokenizer). True when rows changed (the user's mixture is then rebuilt)."""


#: name -> module holding `TESTBED`, in the order `testbed_for` asks them.
TESTBEDS: dict[str, str] = {
    "smollm2_135m": "reference_impl.testbeds.smollm2",
    "miniature_world": "reference_impl.testbeds.miniature_world",
    "hub": "reference_impl.testbeds.hub",
}


def named_base_identity(config: dict) -> dict:
    """`Testbed.base_identity` of a testbed whose base model is named by a path or hub id in `model.base`."""
    return {"base": config["model"]["base"], "dtype": config["model"]["dtype"]}


def named_data_identity(config: dict, stage: str):
    """`Testbed.data_identity` of a testbed whose data sets are named in `data:` (alignment; harmful + task)."""
    d = config["data"]
    return d["alignment"] if stage == "alignment" else [d["harmful"], d["task"]]


def register(name: str, module: str, first: bool = True) -> None:
    """Add a testbed at run time (a test's throw-away one); `first`: asked before the registered ones."""
    others = {k: v for k, v in TESTBEDS.items() if k != name}
    TESTBEDS.clear()  # in place: modules that imported the dict see the change
    TESTBEDS.update({name: module, **others} if first else {**others, name: module})


def unregister(name: str) -> None:
    TESTBEDS.pop(name, None)


def load_testbed(name: str) -> Testbed:
    return importlib.import_module(TESTBEDS[name]).TESTBED


def testbed_for(config: dict) -> Testbed:
    """The testbed that runs `config`: the first registered one that handles it."""
    for name in TESTBEDS:
        testbed = load_testbed(name)
        if testbed.handles(config):
            return testbed
    raise LookupError("no registered testbed handles this config")  # `hub` handles every config
