"""Loss components logged (TRL's habit): a defense's `last_losses` per step, averaged into the Trainer's logs as
`defense/<name>`, logged by the pipeline and summarised in the result row."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from pipeline_smoke import FAST  # noqa: E402

from reference_impl import pipeline  # noqa: E402
from reference_impl.runs import WORLD_CONFIG, load_run_config  # noqa: E402


def test_kl_components_reach_the_log_and_the_row(tmp_path, capsys):
    lines: list[str] = []
    config = load_run_config(WORLD_CONFIG, FAST + ["finetune.max_steps=3"], "kl")
    row = pipeline.run(config, tmp_path, log=lines.append)[-1]
    components = row["defense_losses"]["fine_tuning"]
    assert set(components) == {"task_loss", "kl"} and components["task_loss"] > 0 and components["kl"] >= 0
    assert "alignment" not in row["defense_losses"]  # plain SFT alignment records none
    assert any(line.startswith("  finetune: defense/task_loss ") and "(means over 3 steps)" in line for line in lines)
    assert "'defense/kl'" in capsys.readouterr().out  # the Trainer's own log line carries them too
    again = pipeline.run(config, tmp_path, log=lines.append)[-1]  # reused stage: read back from its DONE file
    assert again["defense_losses"] == row["defense_losses"]


def test_the_mean_is_over_steps_and_a_stale_dict_is_not_counted_twice():
    from reference_impl.common.harness import HFTTrainer

    trainer = HFTTrainer.__new__(HFTTrainer)  # only the bookkeeping: no model needed
    trainer._components, trainer._window, trainer._recorded = {}, {}, None
    for value in (1.0, 3.0):
        trainer.last_losses = {"penalty": value, "skipped": 2, "flag": True, "note": "x"}
        trainer._record_components()
        trainer._record_components()  # the same dict again: a step that did not update it
    assert trainer.loss_components() == {"penalty": 2.0, "skipped": 2.0}
