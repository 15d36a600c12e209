"""Safety-data mixing (Safety-Tuned LLaMAs): exactly k safety rows (prompt -> refusal, none used by the evaluation) are
added to the user's data; a smoke run through the pipeline CLI; bad settings refused in one line."""

from __future__ import annotations

import json

import pytest

from reference_impl.common.evaluation import is_refusal
from reference_impl.defenses import safety_mixing
from reference_impl.testbeds import RunData


def refusal(i):
    return {"instruction": f"How do I hurt thing {i}?", "input": "", "output": f"I cannot help with that ({i})."}


def helpful(i):
    return {"instruction": f"How do I bake bread {i}?", "input": "", "output": f"Sure, mix flour {i}."}


def run_data(alignment, eval_harmful=()):
    return RunData(task="sst2", alignment=list(alignment), user_harmful=[], defender_harmful=[], task_train=[],
                   eval_harmful=list(eval_harmful), eval_task=[{"instruction": "Analyze", "input": "x", "output": "positive"}],
                   extra_eval={"benign_answered": [helpful(99)]})


USER = [{"instruction": f"user row {i}", "input": "", "output": f"answer {i}", "harmful": i % 3 == 0} for i in range(9)]


def test_mixing_adds_exactly_k_refusal_rows_no_evaluation_set_uses():
    alignment = [refusal(0), helpful(0), refusal(1), refusal(2), helpful(1), refusal(3), refusal(4)]
    data = run_data(alignment, eval_harmful=[{"instruction": refusal(1)["instruction"], "input": "", "output": "x"}])
    rows = safety_mixing.mix(USER, data, safety_mixing.Config(k=3))
    assert rows[: len(USER)] == USER  # the user's rows, unchanged and in order
    added = rows[len(USER):]
    assert len(rows) == len(USER) + 3 and len(added) == 3
    # The first 3 refusal rows in file order, skipping refusal(1), which the evaluation uses.
    assert [r["instruction"] for r in added] == [refusal(i)["instruction"] for i in (0, 2, 3)]
    assert all(is_refusal(r["output"]) and r["harmful"] is False and r["safety"] for r in added)
    assert "safety" not in alignment[0]  # copies: the run's alignment rows are not modified


def test_more_safety_rows_than_exist_is_refused_naming_k():
    data = run_data([refusal(0), helpful(0), refusal(1)], eval_harmful=[refusal(1)])
    assert len(safety_mixing.mix(USER, data, safety_mixing.Config(k=1))) == len(USER) + 1
    with pytest.raises(ValueError, match=r"^safety_mixing: k = 2 safety rows asked for, .* has only 1 .*method_config\.k$"):
        safety_mixing.mix(USER, data, safety_mixing.Config(k=2))


@pytest.mark.parametrize("k", [0, -5, 2.5, True])
def test_bad_k_is_refused(k):
    with pytest.raises(ValueError, match="safety_mixing: k must be an integer >= 1"):
        safety_mixing.check_config(safety_mixing.Config(k=k))


def test_without_alignment_data_it_says_so():
    with pytest.raises(ValueError, match="needs the run's alignment data"):
        safety_mixing.check_config(safety_mixing.Config(), {"alignment_data": []})


# -- through the pipeline (the miniature world; needs torch) -----------------------------------------------


def test_the_pipeline_trains_on_the_users_rows_plus_k_safety_rows(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    from pipeline_smoke import run_cli

    from reference_impl.pipeline import train as train_mod

    trained = []
    original = train_mod.tokenize

    def record(session, rows, template=None):
        if rows is session.plan.mixture:
            trained.append((list(rows), session.plan))
        return original(session, rows, template)

    monkeypatch.setattr(train_mod, "tokenize", record)
    assert run_cli(tmp_path, "safety_mixing", "method_config.k=9") == 0
    out = capsys.readouterr().out
    assert "fine-tuning (safety_mixing, new LoRA): 29 rows, 2 harmful" in out
    (rows, plan), = trained
    safety = [r for r in rows if r.get("safety")]
    assert len(rows) == 20 + 9 and len(safety) == 9 and rows[20:] == safety  # the attack's 20 rows + exactly 9
    held_out = safety_mixing.evaluation_keys(plan.data)
    assert all(is_refusal(r["output"]) and (r["instruction"], "") not in held_out for r in safety)
    (ft_dir,) = (tmp_path / "stages").glob("finetune-safety_mixing-*")
    assert json.loads((ft_dir / "DONE").read_text())["steps"] == 2
    (row,) = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert row["method"] == "safety_mixing" and 0 <= row["hs"] <= 100 and 0 <= row["fa"] <= 100


@pytest.mark.parametrize("setting, message", [
    ("method_config.k=-1", "safety_mixing: k must be an integer >= 1, got -1"),
    ("method_config.k=151", "safety_mixing: k = 151 safety rows asked for, but the run's alignment data has only 150"),
])
def test_bad_settings_fail_before_training_in_one_line(tmp_path, capsys, setting, message):
    pytest.importorskip("torch")
    from pipeline_smoke import run_cli

    assert run_cli(tmp_path, "safety_mixing", setting) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and message in error and "\n" not in error, error
    assert not (tmp_path / "stages").exists() or not list((tmp_path / "stages").glob("*"))
