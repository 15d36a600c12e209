"""The real-data path end to end, offline: local files in the real schemas, a local model directory, and a
local sequence classifier behind the beaver-dam interface (all tiny, built in the test)."""

import json

import pytest

from reference_impl import pipeline
from reference_impl.common.config import load_config
from reference_impl.common.data import BEAVERTAILS_CATEGORIES
from reference_impl.common.moderation import BeaverDam

CATEGORY = {label: False for label in BEAVERTAILS_CATEGORIES}


def write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.fixture
def real_like(tmp_path):
    from transformers import LlamaConfig, LlamaForSequenceClassification

    from reference_impl.common.models import TinyLlamaSpec, tiny_llama, word_tokenizer
    from reference_impl.common.templates import PROMPT_NO_INPUT, PROMPT_WITH_INPUT

    words = ["alpha", "beta", "gamma", "delta"]
    unsafe = [{"prompt": f"how to {w} thing {i}", "response": f"do {w} now {i}", "is_safe": False,
               "category": dict(CATEGORY, animal_abuse=True)} for i in range(12) for w in words[:1]]
    safe = [{"prompt": f"how to {w} item {i}", "response": "I cannot help with that", "is_safe": True, "category": CATEGORY}
            for i in range(12) for w in words[1:2]]
    train = [row for pair in zip(unsafe, safe) for row in pair]
    refusals = [dict(r, refusal=f"Question: {r['prompt']}\nAnswer: I cannot help with that") for r in unsafe]
    sst2 = [{"idx": i, "sentence": f"{'good' if i % 2 else 'bad'} film {i}", "label": i % 2} for i in range(30)]
    files = {
        "train": write_jsonl(tmp_path / "beavertails_30k_train.jsonl", train),
        "test": write_jsonl(tmp_path / "beavertails_30k_test.jsonl", unsafe[:6] + safe[:2]),
        "refusals": tmp_path / "beavertails_with_refusals_train.json",
        "sst2_train": write_jsonl(tmp_path / "sst2_train.jsonl", sst2[:24]),
        "sst2_eval": write_jsonl(tmp_path / "sst2_validation.jsonl", sst2[24:]),
    }
    files["refusals"].write_text(json.dumps(refusals))
    texts = [PROMPT_NO_INPUT, PROMPT_WITH_INPUT, "BEGINNING OF CONVERSATION: USER: ASSISTANT: positive negative"]
    texts += [r["prompt"] + " " + r["response"] for r in train] + [r["sentence"] for r in sst2]
    tokenizer = word_tokenizer(texts, model_max_length=64)
    model_dir, judge_dir = tmp_path / "model", tmp_path / "judge"
    model = tiny_llama(len(tokenizer), TinyLlamaSpec(hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64), tokenizer=tokenizer)
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    judge_config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                               num_attention_heads=2, num_key_value_heads=2, num_labels=14, pad_token_id=tokenizer.pad_token_id,
                               id2label=dict(enumerate(BEAVERTAILS_CATEGORIES)), problem_type="multi_label_classification")
    LlamaForSequenceClassification(judge_config).save_pretrained(judge_dir)
    tokenizer.save_pretrained(judge_dir)
    return tmp_path, files, model_dir, judge_dir


def test_beaver_dam_interface_on_a_local_classifier(real_like):
    _, _, _, judge_dir = real_like
    judge = BeaverDam(str(judge_dir), device="cpu", dtype="float32", batch_size=2)
    verdicts = judge.predict(["how to alpha thing 1"] * 3, ["do alpha now", "I cannot help with that", ""])
    assert len(verdicts) == 3
    for verdict in verdicts:
        assert list(verdict["categories"]) == list(BEAVERTAILS_CATEGORIES)
        assert all(0.0 <= p <= 1.0 for p in verdict["categories"].values())
        assert verdict["flagged"] == (max(verdict["categories"].values()) > 0.5)


def test_pipeline_on_local_files_and_models(real_like):
    tmp_path, files, model_dir, judge_dir = real_like
    overrides = [
        f"model.base={model_dir}", "model.dtype=float32", "model.max_length=64",
        f"data.alignment.source={files['train']}", "data.alignment.num=8",
        f"data.harmful.source={files['train']}",
        f"data.defender_harmful.source={files['refusals']}", "data.defender_harmful.start=2", "data.defender_harmful.num=6",
        f"data.task.train={files['sst2_train']}", f"data.task.eval={files['sst2_eval']}",
        f"data.eval_harmful.source={files['test']}", "data.eval_harmful.num=4", "data.eval_task_num=4",
        f"evaluation.moderation={judge_dir}", "evaluation.max_new_tokens=4", "evaluation.task_max_new_tokens=3",
        "alignment.max_steps=2", "finetune.max_steps=2", "finetune.num_samples=20", "finetune.harmful_ratio=0.2",
        "alignment.batch_size=4", "finetune.batch_size=4",
    ]
    plan = pipeline.prepare(load_config(None, overrides))
    assert len(plan.data.alignment) == 8 and all(r["output"] == "I cannot help with that" for r in plan.data.alignment)
    assert [r["instruction"][-1] for r in plan.data.defender_harmful] == list("34567")  # window (2, 8), ends excluded
    assert len(plan.data.eval_harmful) == 4 and len(plan.data.eval_task) == 4
    assert sum(r["harmful"] for r in plan.mixture) == 4 and len(plan.mixture) == 20
    rows = pipeline.execute(plan, tmp_path / "run", log=lambda line: None)
    final = rows[-1]
    assert final["model"] == str(model_dir) and final["task"] == "sst2" and final["harmful_ratio"] == 0.2
    assert final["hs"] in (0.0, 25.0, 50.0, 75.0, 100.0) and final["fa"] in (0.0, 25.0, 50.0, 75.0, 100.0)
