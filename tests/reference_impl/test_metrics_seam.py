"""The metrics seam (common/metrics.py): one list drives result rows and tables; a cached evaluation that lacks a
listed metric, or was made by another EVALUATION_VERSION, is evaluated again without retraining."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from pipeline_smoke import FAST  # noqa: E402

from reference_impl import pipeline  # noqa: E402
from reference_impl.common import metrics  # noqa: E402
from reference_impl.runs import WORLD_CONFIG, load_run_config  # noqa: E402
from reference_impl.tables.rows import COLUMNS  # noqa: E402
from reference_impl.testbeds import base  # noqa: E402


def test_the_list_heads_the_table_and_names_every_testbed_metric():
    assert [key for key, _ in COLUMNS[3:]] == [m.key for m in metrics.METRICS]
    assert {m.direction for m in metrics.METRICS} <= {"lower", "higher"}
    world = base.load_testbed("miniature_world").load_data(load_run_config(WORLD_CONFIG, FAST))
    assert set(world.extra_eval) <= set(metrics.BY_KEY)  # a testbed's own metric is listed too


def test_a_missing_metric_or_a_new_version_re_evaluates_without_retraining(tmp_path, monkeypatch):
    config = load_run_config(WORLD_CONFIG, FAST)
    lines: list[str] = []
    first = pipeline.run(config, tmp_path, log=lines.append)[-1]
    assert any("loss" in line for line in lines)  # the first run trains (and says so)
    assert list(first)[list(first).index("hs"):list(first).index("hs") + 4] == metrics.core_keys()
    (evaluation,) = (tmp_path / "stages").glob("eval-final-*.json")
    stages = sorted(p.name for p in (tmp_path / "stages").iterdir() if p.is_dir())
    cached = json.loads(evaluation.read_text())
    del cached["metrics"]["refusal_rate"]  # as if the metric had been added after this evaluation was made
    evaluation.write_text(json.dumps(cached))
    lines.clear()
    again = pipeline.run(config, tmp_path, log=lines.append)[-1]
    assert any("lacks refusal_rate; evaluating again" in line for line in lines)
    assert again["refusal_rate"] == first["refusal_rate"] and again["hs"] == first["hs"]
    assert not any("loss" in line for line in lines)  # nothing trained: every stage reused
    monkeypatch.setattr(metrics, "EVALUATION_VERSION", 2)
    monkeypatch.setattr(pipeline.evaluate, "EVALUATION_VERSION", 2)
    lines.clear()
    pipeline.run(config, tmp_path, log=lines.append)
    assert len(list((tmp_path / "stages").glob("eval-final-*.json"))) == 2  # a second evaluation, new key
    assert sorted(p.name for p in (tmp_path / "stages").iterdir() if p.is_dir()) == stages
    assert not any("loss" in line for line in lines)
