"""PTST (arXiv 2402.18540): fine-tuning prompts carry no safety system prompt, every evaluation prompt carries one;
the fine-tuning stage is plain SFT's own; a smoke run through the pipeline CLI; a bad setting refused."""

from __future__ import annotations

import json

import pytest

from reference_impl.common.method import templates
from reference_impl.common.templates import PROMPT_NO_INPUT, PROMPT_WITH_INPUT, format_prompt
from reference_impl.defenses import ptst

HEADERS = (PROMPT_NO_INPUT.split("\n\n")[0], PROMPT_WITH_INPUT.split("\n\n")[0])


def test_the_safety_prompts_are_the_llama2_default_and_its_first_two_sentences():
    full, short = ptst.SAFETY_PROMPTS["llama"], ptst.SAFETY_PROMPTS["llama-short"]
    assert full.startswith(short + " Your answers should not include any harmful")
    assert full.endswith("please don't share false information.") and len(full.split()) == 79


@pytest.mark.parametrize("name", ["llama", "llama-short"])
def test_train_template_is_plain_alpaca_and_the_eval_one_has_the_safety_prompt(name):
    train, test = templates(ptst.METHOD, ptst.Config(test_prompt=name))
    assert format_prompt("Do it", template=train) == format_prompt("Do it")  # no safety system prompt
    assert format_prompt("Do it", template=test) == f"{ptst.SAFETY_PROMPTS[name]}\n\n### Instruction:\nDo it\n\n### Response:"
    assert ptst.METHOD.finetune_data is None and ptst.METHOD.trainer is None  # training is plain SFT


def test_an_unknown_test_prompt_is_refused():
    with pytest.raises(ValueError, match="ptst: test_prompt must be one of llama, llama-short, got 'mpt'"):
        ptst.check_config(ptst.Config(test_prompt="mpt"))


# -- through the pipeline (the miniature world; needs torch) -----------------------------------------------


def test_trains_without_the_safety_prompt_and_evaluates_with_it(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    from pipeline_smoke import record_prompts, run_cli

    prompts, tokenised = record_prompts(monkeypatch)
    # The full Llama-2 prompt here (the world's config picks the short one).
    assert run_cli(tmp_path, "ptst", "method_config.test_prompt=llama") == 0
    out = capsys.readouterr().out
    assert "fine-tuning (sft, new LoRA)" in out  # PTST's fine-tuning IS plain SFT: the stage is SFT's own
    safety = ptst.SAFETY_PROMPTS["llama"]

    # Training: every prompt (alignment, user rows) starts with the Alpaca header, none has the safety prompt; the
    # tokenised user rows start with <s> + the header's tokens.
    assert prompts["train"] and all(p.startswith(HEADERS) for p in prompts["train"])
    assert not any(safety in p or "helpful, respectful" in p for p in prompts["train"])
    (rows, dataset, tokenizer), = tokenised
    assert len(rows) == len(dataset) == 20
    for row, example in zip(rows, dataset):
        header = HEADERS[1] if row.get("input") else HEADERS[0]
        want = [tokenizer.bos_token_id] + tokenizer(header, add_special_tokens=False)["input_ids"]
        assert example["input_ids"][: len(want)] == want

    # Evaluation: every prompt starts with the safety system prompt in place of the header.
    assert len(prompts["eval"]) >= 3 and all(p.startswith(safety + "\n\n### Instruction:\n") for p in prompts["eval"])
    assert not any(h in p for h in HEADERS for p in prompts["eval"])
    (row,) = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert row["method"] == "ptst" and 0 <= row["hs"] <= 100 and 0 <= row["fa"] <= 100
    (ev,) = (tmp_path / "stages").glob("eval-*")
    assert json.loads(ev.read_text())["metrics"]["hs"] == row["hs"]


def test_ptst_reuses_sfts_fine_tuning_and_evaluates_apart(tmp_path, capsys):
    pytest.importorskip("torch")
    from pipeline_smoke import run_cli

    assert run_cli(tmp_path, "sft") == 0
    assert run_cli(tmp_path, "ptst") == 0
    out = capsys.readouterr().out
    assert "fine-tuning (sft, p=0.1): done already" in out  # the same adapter: no second training
    assert len(list((tmp_path / "stages").glob("finetune-*"))) == 1
    assert len(list((tmp_path / "stages").glob("eval-*"))) == 2  # its own evaluation (its own prompts)


def test_a_bad_setting_fails_before_training_in_one_line(tmp_path, capsys):
    pytest.importorskip("torch")
    from pipeline_smoke import run_cli

    assert run_cli(tmp_path, "ptst", "method_config.test_prompt=chat") == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and "ptst: test_prompt must be one of llama, llama-short" in error
    assert "\n" not in error
