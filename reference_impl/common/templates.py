"""The Alpaca prompt template, tokenisation with the prompt masked out of the labels, and the collator.

DEFENSES.md 1.5. Vaccine, Lisa, T-Vaccine and SafeTuneBed end the prompt with `### Response:` and no newline;
Booster, Antidote, Panacea and Virus end it with `### Response:\n` (`trailing_newline=True`). Inference uses the
same template and the response is the text after "### Response:".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

#: Ignored by the cross-entropy loss (PyTorch's default `ignore_index`).
IGNORE_INDEX = -100

PROMPT_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:"
)
RESPONSE_MARKER = "### Response:"


def format_prompt(instruction: str, input: str = "", *, trailing_newline: bool = False) -> str:
    """The Alpaca prompt for one example; the input block appears only when `input` is non-empty."""
    template = PROMPT_WITH_INPUT if input else PROMPT_NO_INPUT
    prompt = template.format(instruction=instruction, input=input)
    return prompt + "\n" if trailing_newline else prompt


def extract_response(text: str) -> str:
    """The text after the last "### Response:" (the whole text when the marker is absent), stripped."""
    _, marker, after = text.rpartition(RESPONSE_MARKER)
    return (after if marker else text).strip()


def tokenize_example(
    tokenizer, example: Mapping[str, Any], *, max_length: int, trailing_newline: bool = False
) -> dict[str, list[int]]:
    """input_ids = tokens(prompt + output) + EOS; labels = the same with the prompt tokens set to -100.

    As in the git-disl `SupervisedDataset`, the prompt and the full text are tokenised separately and the first
    len(tokens(prompt)) labels are masked; the result is truncated to `max_length`.
    """
    prompt = format_prompt(example["instruction"], example.get("input", "") or "", trailing_newline=trailing_newline)
    prompt_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    full_ids = tokenizer(prompt + example["output"], add_special_tokens=True)["input_ids"] + [tokenizer.eos_token_id]
    full_ids = full_ids[:max_length]
    labels = list(full_ids)
    for i in range(min(len(prompt_ids), len(labels))):
        labels[i] = IGNORE_INDEX
    return {"input_ids": full_ids, "labels": labels}


def tokenize_rows(tokenizer, rows: Sequence[Mapping[str, Any]], *, max_length: int, trailing_newline: bool = False):
    """`tokenize_example` over rows: a list usable as a torch Dataset by `transformers.Trainer`."""
    return [tokenize_example(tokenizer, row, max_length=max_length, trailing_newline=trailing_newline) for row in rows]


@dataclass
class Collator:
    """Right-pads a list of tokenised examples: input_ids with the pad id, labels with -100.

    The attention mask comes from the true lengths (the original uses input_ids != pad, which equals it when the
    pad token is a dedicated `[PAD]`; lengths stay right when a tokenizer reuses EOS as its pad token).
    """

    pad_token_id: int

    def __call__(self, examples: Sequence[Mapping[str, Sequence[int]]]):
        import torch

        longest = max(len(e["input_ids"]) for e in examples)
        input_ids = torch.full((len(examples), longest), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(examples), longest), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(examples), longest), dtype=torch.long)
        for row, example in enumerate(examples):
            n = len(example["input_ids"])
            input_ids[row, :n] = torch.as_tensor(example["input_ids"], dtype=torch.long)
            attention_mask[row, :n] = 1
            if "labels" in example:
                labels[row, :n] = torch.as_tensor(example["labels"], dtype=torch.long)
        return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}
