"""The runs seam: one error handling for every command that runs the pipeline (reference_impl/runs.py)."""

from __future__ import annotations

import json

import pytest

from reference_impl import runs
from reference_impl.common.config import ConfigError
from reference_impl.common.data import DataError


def config(method="sft", ratio=0.1):
    return runs.load_run_config(runs.WORLD_CONFIG, [f"finetune.harmful_ratio={ratio}"], method)


def test_run_many_records_each_kind_of_failure_and_goes_on(monkeypatch, tmp_path, capsys):
    from reference_impl import pipeline

    def fake(cfg, out_dir, log=print):
        problem = {"vaccine": ConfigError("bad config"), "lisa": DataError("x.json:3: bad row"),
                   "booster": pipeline.PipelineError("finetune: loss is nan at step 2")}.get(cfg["method"])
        if problem:
            raise problem
        return [{"method": cfg["method"], "stage": "final", "hs": 1.0}, {"method": cfg["method"], "stage": "aligned"}]

    monkeypatch.setattr(pipeline, "run", fake)
    configs = [config(m) for m in ("sft", "vaccine", "lisa", "booster", "kl")]
    rows, failures = runs.run_many(configs, tmp_path, keep=lambda c, r: [x for x in r if x["stage"] == "final"],
                                   progress=tmp_path / "so-far.json")
    assert [r["method"] for r in rows] == ["sft", "kl"]  # the runs after a failure still ran
    assert [(f.run, f.kind) for f in failures] == [("vaccine x mixture p=0.1 seed=43", "error"),
                                                   ("lisa x mixture p=0.1 seed=43", "error"),
                                                   ("booster x mixture p=0.1 seed=43", "stopped")]
    assert str(failures[1]) == "lisa x mixture p=0.1 seed=43: error: x.json:3: bad row"  # a DataError no longer crashes
    assert json.loads((tmp_path / "so-far.json").read_text()) == rows
    assert "booster x mixture p=0.1 seed=43: stopped: finetune: loss is nan at step 2" in capsys.readouterr().err


def test_ctrl_c_keeps_the_finished_rows_and_names_the_rest(monkeypatch, tmp_path):
    calls = []

    def fake(cfg, out_dir, log=print):
        calls.append(cfg["method"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return [{"method": cfg["method"]}], None

    monkeypatch.setattr(runs, "run_one", fake)
    rows, failures = runs.run_many([config("sft"), config("kl"), config("ewc")], tmp_path)
    assert rows == [{"method": "sft"}]
    assert [str(f) for f in failures] == ["kl x mixture p=0.1 seed=43: not run: interrupted",
                                          "ewc x mixture p=0.1 seed=43: not run: interrupted"]


def test_a_bad_override_is_one_line_naming_the_key():
    with pytest.raises(ConfigError, match="finetune.harmful_ratio"):
        runs.load_run_config(runs.WORLD_CONFIG, ["finetune.harmful_ratio=2"])


def test_merge_rows_replaces_what_a_partial_rerun_made():
    previous = {"rows": [{"method": "sft", "hs": 1}, {"method": "kl", "hs": 2}], "command": "a; b"}
    merged = runs.merge_rows(previous, [{"method": "kl", "hs": 3}], replaces=lambda row: row["method"] == "kl")
    assert merged == [{"method": "sft", "hs": 1}, {"method": "kl", "hs": 3}]
    assert runs.merge_commands(previous, "b") == "a; b" and runs.merge_commands(previous, "c") == "a; b; c"
    assert runs.merge_rows(None, [{"x": 1}], replaces=lambda row: True) == [{"x": 1}]
