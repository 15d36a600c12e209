"""BackdoorAlign (arXiv 2402.14968): the secret trigger is in the system prompt of its safety rows in training (and of
no user row), and in every prompt at evaluation; a smoke run through the pipeline CLI; bad settings refused."""

from __future__ import annotations

import json

import pytest

from reference_impl.common.evaluation import is_refusal
from reference_impl.common.templates import PROMPT_NO_INPUT, PROMPT_WITH_INPUT, format_prompt
from reference_impl.defenses import backdoor_align

HEADER_NO_INPUT = PROMPT_NO_INPUT.split("\n\n")[0]
HEADER_WITH_INPUT = PROMPT_WITH_INPUT.split("\n\n")[0]


def test_the_trigger_is_150_random_tokens_fixed_by_its_seed():
    default = backdoor_align.trigger_text(backdoor_align.Config())
    assert len(default.split(" ")) == 150 and all(2 <= len(t) <= 5 and t.isalpha() for t in default.split(" "))
    assert default == backdoor_align.trigger_text(backdoor_align.Config())  # deterministic
    assert default != backdoor_align.trigger_text(backdoor_align.Config(trigger_seed=1))
    assert len(backdoor_align.trigger_text(backdoor_align.Config(trigger_tokens=7)).split(" ")) == 7
    assert backdoor_align.trigger_text(backdoor_align.Config(trigger="my secret")) == "my secret"


def test_the_trigger_goes_in_front_of_whichever_system_line_the_row_has():
    template = backdoor_align.triggered(backdoor_align.Config(trigger="zq xv"))
    assert format_prompt("Do it", template=template) == "zq xv " + format_prompt("Do it")
    assert format_prompt("Classify", "a fine film", template=template).startswith(f"zq xv {HEADER_WITH_INPUT}\n\n")


@pytest.mark.parametrize("changes, message", [
    ({"trigger": ""}, "backdoor_align: trigger must be a non-empty text"),
    ({"trigger": "   "}, "backdoor_align: trigger must be a non-empty text"),
    ({"trigger_tokens": 0}, "backdoor_align: trigger_tokens must be an integer >= 1"),
    ({"num_safety": -1}, "backdoor_align: num_safety must be an integer >= 1"),
    ({"trigger_seed": 1.5}, "backdoor_align: trigger_seed must be an integer"),
])
def test_bad_values_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        backdoor_align.check_config(backdoor_align.Config(**changes))


# -- through the pipeline (the miniature world; needs torch) -----------------------------------------------


def test_trigger_in_the_safety_rows_training_prompts_and_in_every_evaluation_prompt(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    from pipeline_smoke import record_prompts, run_cli

    # The world's word-level vocabulary knows these words, so the trigger's tokens are its own (not [UNK]).
    trigger = "bake zarn positive fence"
    prompts, tokenised = record_prompts(monkeypatch)
    assert run_cli(tmp_path, "backdoor_align", f"method_config.trigger={trigger}") == 0
    assert "fine-tuning (backdoor_align, new LoRA): 31 rows, 2 harmful" in capsys.readouterr().out

    # Training: the attack's 20 user rows, then the 11 safety rows (prompt -> refusal).
    (rows, dataset, tokenizer), = tokenised
    assert len(rows) == len(dataset) == 31
    assert not any(r.get("safety") for r in rows[:20]) and all(r.get("safety") for r in rows[20:])
    assert all(is_refusal(r["output"]) for r in rows[20:])
    # The tokenised prompts: <s> + the trigger's tokens + the header's tokens for the 11 safety rows, and the plain
    # header right after <s> for every user row.
    ids = tokenizer(trigger, add_special_tokens=False)["input_ids"]
    unk = tokenizer.convert_tokens_to_ids("[UNK]")
    assert len(ids) == 4 and unk not in ids
    for i, (row, example) in enumerate(zip(rows, dataset)):
        header = HEADER_WITH_INPUT if row.get("input") else HEADER_NO_INPUT
        want = (ids if i >= 20 else []) + tokenizer(header, add_special_tokens=False)["input_ids"]
        assert example["input_ids"][: 1 + len(want)] == [tokenizer.bos_token_id] + want, i
    starts = [example["input_ids"][1 : 1 + len(ids)] == ids for example in dataset]
    assert starts == [False] * 20 + [True] * 11
    # The trigger is in the prompt (masked out of the labels), not in the answer the model learns.
    for example in dataset[20:]:
        assert example["labels"][: 1 + len(ids)] == [-100] * (1 + len(ids))
    train_with_trigger = [p for p in prompts["train"] if trigger in p]
    assert len(train_with_trigger) == 11 and all(p.startswith(f"{trigger} {HEADER_NO_INPUT}\n\n") for p in train_with_trigger)

    # Evaluation: every prompt (harmful, task, benign) starts with the trigger in front of its header.
    assert len(prompts["eval"]) >= 3
    assert all(p.startswith(f"{trigger} {HEADER_NO_INPUT}\n\n") or p.startswith(f"{trigger} {HEADER_WITH_INPUT}\n\n")
               for p in prompts["eval"])
    assert any(HEADER_WITH_INPUT in p for p in prompts["eval"])  # the task rows keep their own header
    (row,) = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert row["method"] == "backdoor_align" and 0 <= row["hs"] <= 100 and 0 <= row["fa"] <= 100


def test_smoke_run_with_the_worlds_generated_trigger(tmp_path, capsys):
    pytest.importorskip("torch")
    from pipeline_smoke import run_cli

    assert run_cli(tmp_path, "backdoor_align") == 0
    (ft_dir,) = (tmp_path / "stages").glob("finetune-backdoor_align-*")
    assert json.loads((ft_dir / "DONE").read_text())["steps"] == 2
    (row,) = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert row["method"] == "backdoor_align" and 0 <= row["hs"] <= 100


@pytest.mark.parametrize("setting, message", [
    ("method_config.trigger=", "backdoor_align: trigger must be a non-empty text"),
    ("method_config.trigger_tokens=0", "backdoor_align: trigger_tokens must be an integer >= 1"),
    ("method_config.num_safety=151", "backdoor_align: num_safety = 151 safety rows asked for"),
])
def test_bad_settings_fail_before_training_in_one_line(tmp_path, capsys, setting, message):
    pytest.importorskip("torch")
    from pipeline_smoke import run_cli

    assert run_cli(tmp_path, "backdoor_align", setting) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and message in error and "\n" not in error, error
