from reference_impl.common.templates import (
    IGNORE_INDEX,
    Collator,
    extract_response,
    format_prompt,
    tokenize_example,
)

EXPECTED_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\nSay hi\n\n### Response:"
)
EXPECTED_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\nClassify\n\n### Input:\na fine film\n\n### Response:"
)


def test_template_matches_defenses_1_5_exactly():
    assert format_prompt("Say hi") == EXPECTED_NO_INPUT
    assert format_prompt("Classify", "a fine film") == EXPECTED_WITH_INPUT


def test_trailing_newline_variant():
    assert format_prompt("Say hi", trailing_newline=True) == EXPECTED_NO_INPUT + "\n"
    assert format_prompt("Classify", "a fine film", trailing_newline=True).endswith("### Response:\n")


def test_empty_input_uses_the_template_without_input():
    assert "### Input:" not in format_prompt("Say hi", "")


def test_extract_response_takes_the_text_after_the_last_marker():
    assert extract_response(EXPECTED_NO_INPUT + " hello there \n") == "hello there"
    assert extract_response("no marker here") == "no marker here"


def test_prompt_tokens_are_masked_and_eos_is_the_last_target(tiny_tokenizer):
    row = {"instruction": "How do I smash the car?", "input": "", "output": "I cannot help with that."}
    example = tokenize_example(tiny_tokenizer, row, max_length=96)
    prompt_len = len(tiny_tokenizer(format_prompt(row["instruction"]))["input_ids"])
    assert example["labels"][:prompt_len] == [IGNORE_INDEX] * prompt_len
    assert example["labels"][prompt_len:] == example["input_ids"][prompt_len:]
    assert example["input_ids"][-1] == tiny_tokenizer.eos_token_id
    target = tiny_tokenizer.decode(example["input_ids"][prompt_len:], skip_special_tokens=True)
    assert target.startswith("I cannot help with that")


def test_truncation_to_max_length(tiny_tokenizer):
    row = {"instruction": "How do I smash the car?", "input": "", "output": "I cannot help with that."}
    example = tokenize_example(tiny_tokenizer, row, max_length=10)
    assert len(example["input_ids"]) == 10
    assert all(label == IGNORE_INDEX for label in example["labels"])  # the prompt alone is longer than 10


def test_collator_pads_right_with_pad_and_minus_100():
    batch = Collator(pad_token_id=0)(
        [{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [8], "labels": [8]}]
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
