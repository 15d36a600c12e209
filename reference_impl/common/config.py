"""Run configuration: a YAML file + `--set key=value` overrides, checked completely before any training.

`DEFAULTS` below is the schema: every key a config may hold, with its default and (by the default's type) its
type. A YAML file only lists what it changes. Problems are reported as one line naming the file and line:
unknown keys (with a suggestion), wrong types, ratios outside [0, 1], bad choices.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

LORA_ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj", "gate_proj"]


def _train_defaults(lr: float, epochs: float, lora: dict) -> dict:
    return {
        "lr": lr,
        "epochs": epochs,
        "max_steps": -1,  # > 0 overrides epochs
        "batch_size": 5,
        "gradient_accumulation_steps": 1,
        "schedule": "constant",  # any transformers lr_scheduler_type: constant, cosine, linear, ...
        "warmup_ratio": 0.0,
        "weight_decay": 0.0,
        "max_grad_norm": 1.0,
        "save_steps": 0,  # > 0: keep a checkpoint every N steps (resume after an interruption, NaN fallback)
        "lora": lora,
    }


#: The schema and its defaults. Paper-scale values follow Vaccine's SST2 setting (site/reference/protocol.md, 'LoRA settings' and 'Attacks').
DEFAULTS: dict[str, Any] = {
    "seed": 43,
    "method": "sft",
    "method_config": {},  # field overrides of the method's Config dataclass (checked against it)
    "method_configs": {},  # method name -> overrides used when that method runs (method_config wins over them)
    "model": {
        "base": "world",  # "world" (the miniature world's tiny model) or a local path / hub id
        "tokenizer": None,  # default: same as base
        "dtype": "auto",
        "device_map": None,
        "max_length": 200,
        "trailing_newline": False,  # "### Response:\n" (Booster/Antidote) instead of "### Response:"
        "bf16": False,
        "threads": 1,  # CPU threads for torch (1 avoids oversubscription on shared machines); 0 = torch default
    },
    "testbed": None,  # named in every result row; default: miniature_world_v<version>, else the base model
    "world": {"seed": 0, "version": 2, "pretrain_steps": 350, "hidden_size": 64, "num_layers": 2, "pretrain_task_words": 0.75},
    "data": {
        # Each source is a local .json/.jsonl/.parquet file or a hub id (needs `datasets`); ignored in the world.
        "alignment": {"source": "PKU-Alignment/BeaverTails", "split": "30k_train", "flavour": "beavertails_safe",
                      "start": 0, "num": 2000, "bounds": "half_open"},
        "harmful": {"source": "PKU-Alignment/BeaverTails", "split": "30k_train", "flavour": "beavertails_unsafe",
                    "start": 0, "bounds": "half_open"},
        "defender_harmful": {"source": "anonymous4486/repnoise_beavertail", "split": "train", "flavour": "refusals",
                             "start": 5000, "num": 2000, "bounds": "exclusive"},
        "task": {"name": "sst2", "train": "sst2", "train_split": "train", "eval": "sst2", "eval_split": "validation",
                 "subset": None},
        "eval_harmful": {"source": "PKU-Alignment/BeaverTails", "split": "30k_test", "num": 500, "unsafe_only": True},
        "eval_task_num": 500,
    },
    "alignment": _train_defaults(1e-3, 50, {"r": 8, "alpha": 4, "dropout": 0.1, "targets": list(LORA_ALL)}),
    "finetune": {
        **_train_defaults(1e-5, 20, {"r": 8, "alpha": 1, "dropout": 0.1, "targets": list(LORA_ALL)}),
        "harmful_ratio": 0.1,
        "num_samples": 1000,
        "lora_mode": "auto",  # new | continue | auto (the method's MethodSpec.finetune_lora)
        "attack": "mixture",  # how the user's data is made: a name in reference_impl/attacks/ATTACKS
        "attack_config": {},  # field overrides of the attack's Config dataclass (checked against it)
    },
    "evaluation": {
        "max_new_tokens": 128,
        "task_max_new_tokens": 200,
        "batch_size": 16,
        "moderation": "PKU-Alignment/beaver-dam-7b",  # "rules" = the world's rule-based judge
        "threshold": 0.5,
        "aligned": False,  # also evaluate the model right after alignment (a row with stage "aligned")
    },
}

CHOICES = {
    ("data", "alignment", "flavour"): ("beavertails_safe", "refusals"),
    ("data", "harmful", "flavour"): ("beavertails_unsafe", "refusals"),
    ("data", "defender_harmful", "flavour"): ("beavertails_unsafe", "refusals"),
    ("data", "task", "name"): ("sst2", "agnews", "gsm8k", "alpaca", "arithmetic"),
    ("finetune", "lora_mode"): ("new", "continue", "auto"),
    ("world", "version"): (1, 2),
}
for _section in ("alignment", "harmful", "defender_harmful"):
    CHOICES[("data", _section, "bounds")] = ("half_open", "exclusive")

#: Keys whose value may be any mapping (checked later against the method's Config).
FREE_MAPPINGS = {("method_config",), ("method_configs",), ("finetune", "attack_config")}
#: Keys that may be None or a value of another type.
OPTIONAL = {("testbed",), ("model", "tokenizer"), ("model", "device_map"), ("data", "task", "subset")}


#: Where the registered method and attack names come from (name lists, checked by `validate`). Filled in by the
#: package (reference_impl/__init__.py) with the registry's and the attacks' names: `common` sits below both and
#: imports neither (the layering test, tests/reference_impl/test_layers.py).
KNOWN_NAMES: dict[str, Any] = {"method": lambda: (), "attack": lambda: ()}


class ConfigError(ValueError):
    """A configuration problem, already formatted as `file:line: message`."""


def load_config(path: str | Path | None, overrides: list[str] = ()) -> dict:
    """DEFAULTS <- YAML file <- `key.path=value` overrides, validated. `path=None` means defaults only."""
    import yaml

    config = copy.deepcopy(DEFAULTS)
    lines: dict[tuple, int] = {}
    source = str(path) if path else "<defaults>"
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"{path}: config file does not exist")
        text = path.read_text(encoding="utf-8")
        try:
            data = yaml.safe_load(text) or {}
            lines = _key_lines(yaml.compose(text))
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            line = mark.line + 1 if mark else 1
            raise ConfigError(f"{path}:{line}: invalid YAML: {getattr(error, 'problem', error)}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}:1: a config is a mapping of sections (model, data, alignment, finetune, ...)")
        _merge(config, data, (), source, lines)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item}: expected key.path=value")
        value = yaml.safe_load(raw) if raw.strip() else ""
        keys = tuple(key.strip().split("."))
        nested: Any = value
        for part in reversed(keys):
            nested = {part: nested}
        _merge(config, nested, (), f"--set {item}", {})
        lines[keys] = f"--set {item}"  # later checks name the override, not the file
    validate(config, source, lines)
    located = LocatedConfig(config)
    located.source, located.lines = source, lines
    return located


class LocatedConfig(dict):
    """The config mapping, remembering where each key came from (for checks made after loading, e.g. plan.py)."""

    source: str = "<config>"
    lines: dict = {}


def where(config: dict, path: tuple) -> str:
    """`file:line` (or `--set key=value`) of a key of a loaded config; the file alone when it is not there."""
    return _where(getattr(config, "source", "<config>"), getattr(config, "lines", {}), tuple(path))


def _key_lines(node, prefix=()) -> dict[tuple, int]:
    """key path -> 1-based line of that key in the YAML document."""
    import yaml

    out = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = prefix + (str(key_node.value),)
            out[path] = key_node.start_mark.line + 1
            out.update(_key_lines(value_node, path))
    return out


def _where(source: str, lines: dict, path: tuple) -> str:
    if source.startswith("--set"):
        return source
    if isinstance(lines.get(path), str):
        return lines[path]
    line = lines.get(path) or lines.get(path[:1]) or 1
    return f"{source}:{line}"


def _merge(into: dict, data: dict, prefix: tuple, source: str, lines: dict) -> None:
    for key, value in data.items():
        path = prefix + (str(key),)
        if path in FREE_MAPPINGS:
            if not isinstance(value, dict):
                raise ConfigError(f"{_where(source, lines, path)}: {'.'.join(path)} must be a mapping")
            merged = dict(into.get(key, {}))
            for name, item in value.items():  # one level deeper too: method_configs.lisa.a=1 then .b=2
                both_maps = isinstance(item, dict) and isinstance(merged.get(name), dict)
                merged[name] = {**merged[name], **item} if both_maps else item
            into[key] = merged
            continue
        if key not in into:
            close = difflib.get_close_matches(str(key), [str(k) for k in into], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(map(str, into))})"
            raise ConfigError(f"{_where(source, lines, path)}: unknown key {'.'.join(path)!r}{hint}")
        default = DEFAULTS_AT(path)
        if isinstance(default, dict) and path not in FREE_MAPPINGS:
            if not isinstance(value, dict):
                raise ConfigError(f"{_where(source, lines, path)}: {'.'.join(path)} must be a mapping")
            _merge(into[key], value, path, source, lines)
        else:
            into[key] = _coerce(value, default, path, source, lines)


def DEFAULTS_AT(path: tuple):  # noqa: N802 - reads like a constant lookup
    node: Any = DEFAULTS
    for part in path:
        node = node[part]
    return node


def _coerce(value, default, path, source, lines):
    name = ".".join(path)
    if value is None and (default is None or path in OPTIONAL):
        return None
    if default is None or path in OPTIONAL:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{_where(source, lines, path)}: {name} must be true or false, got {value!r}")
        return value
    if isinstance(default, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, int) and isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(default, int) and isinstance(value, float) and name.endswith("epochs"):
        return value
    if isinstance(default, (int, float)) and isinstance(value, str):
        try:
            return type(default)(float(value)) if isinstance(default, float) else int(value)
        except ValueError:
            pass
    if isinstance(default, list) and isinstance(value, list):
        return value
    if isinstance(default, str) and isinstance(value, str):
        return value
    raise ConfigError(f"{_where(source, lines, path)}: {name} must be a {type(default).__name__}, got {value!r}")


def validate(config: dict, source: str = "<config>", lines: dict | None = None) -> None:
    lines = lines or {}

    def fail(path, message):
        raise ConfigError(f"{_where(source, lines, path)}: {'.'.join(path)} {message}")

    for path, allowed in CHOICES.items():
        value = DEFAULTS_AT_CONFIG(config, path)
        if value not in allowed:
            fail(path, f"must be one of {', '.join(allowed)}; got {value!r}")
    METHODS, ATTACKS = KNOWN_NAMES["method"](), KNOWN_NAMES["attack"]()
    if config["method"] not in METHODS:
        fail(("method",), f"names no registered method: {config['method']!r} (registered: {', '.join(METHODS)})")
    for name, overrides in config["method_configs"].items():
        if name not in METHODS:
            fail(("method_configs", name), f"names no registered method (registered: {', '.join(METHODS)})")
        if not isinstance(overrides, dict):
            fail(("method_configs", name), "must be a mapping of Config fields")
    if config["finetune"]["attack"] not in ATTACKS:
        fail(("finetune", "attack"), f"names no known attack: {config['finetune']['attack']!r} (known: {', '.join(ATTACKS)})")
    ratio = config["finetune"]["harmful_ratio"]
    if not 0.0 <= ratio <= 1.0:
        fail(("finetune", "harmful_ratio"), f"must be in [0, 1], got {ratio}")
    for stage in ("alignment", "finetune"):
        section = config[stage]
        if section["lr"] <= 0:
            fail((stage, "lr"), f"must be > 0, got {section['lr']}")
        if section["batch_size"] < 1:
            fail((stage, "batch_size"), f"must be >= 1, got {section['batch_size']}")
        if section["epochs"] <= 0 and section["max_steps"] <= 0:
            fail((stage, "epochs"), "must be > 0 (or set max_steps)")
        if section["lora"]["r"] < 1:
            fail((stage, "lora", "r"), f"must be >= 1, got {section['lora']['r']}")
        unknown = set(section["lora"]) - {"r", "alpha", "dropout", "targets"}
        if unknown:
            fail((stage, "lora"), f"has unknown key(s) {', '.join(sorted(unknown))}")
    if config["finetune"]["num_samples"] < 0:
        fail(("finetune", "num_samples"), "must be >= 0")
    for key in ("num",):
        for section in ("alignment", "defender_harmful"):
            if config["data"][section][key] < 0:
                fail(("data", section, key), "must be >= 0")


def DEFAULTS_AT_CONFIG(config: dict, path: tuple):  # noqa: N802
    node: Any = config
    for part in path:
        node = node[part]
    return node
