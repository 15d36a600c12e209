"""The Alpaca prompt template, tokenisation with the prompt masked out of the labels, and the collator.

site/reference/protocol.md, 'Prompt template'. Vaccine, Lisa, T-Vaccine and SafeTuneBed end the prompt with `### Response:` and no newline;
Booster, Antidote, Panacea and Virus end it with `### Response:\n` (`trailing_newline=True`). Inference uses the
same template and the response is the text after "### Response:".

A method may change the template (`MethodSpec.train_template` / `eval_template`, a `PromptTemplate`): its `system`
text replaces Alpaca's "Below is an instruction ..." header line (the "system prompt" of the Alpaca layout), its
`system_prefix` is glued in front of that line, its `prefix` in front of the instruction (add a trailing space
yourself if you want one). A row may carry its own `template` key (a
`PromptTemplate`) that wins over the stage's, e.g. safety rows with a secret trigger among plain user rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .method import PromptTemplate

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
PLAIN = PromptTemplate()  # the Alpaca template unchanged


def format_prompt(instruction: str, input: str = "", *, trailing_newline: bool = False,
                  template: PromptTemplate | None = None) -> str:
    """The Alpaca prompt for one example; the input block appears only when `input` is non-empty."""
    template = template or PLAIN
    prompt = (PROMPT_WITH_INPUT if input else PROMPT_NO_INPUT).format(instruction=template.prefix + instruction, input=input)
    if template.system is not None:  # the header is everything before the first blank line
        prompt = template.system + prompt[prompt.index("\n\n"):]
    prompt = template.system_prefix + prompt  # e.g. BackdoorAlign's trigger in front of the system line
    return prompt + "\n" if trailing_newline else prompt


def row_prompt(row: Mapping[str, Any], *, trailing_newline: bool = False, template: PromptTemplate | None = None) -> str:
    """`format_prompt` for one row (instruction / input); the row's own `template` key wins over `template`."""
    return format_prompt(row["instruction"], row.get("input", "") or "", trailing_newline=trailing_newline,
                         template=row.get("template") or template)


def extract_response(text: str) -> str:
    """The text after the last "### Response:" (the whole text when the marker is absent), stripped."""
    _, marker, after = text.rpartition(RESPONSE_MARKER)
    return (after if marker else text).strip()


def tokenize_example(
    tokenizer, example: Mapping[str, Any], *, max_length: int, trailing_newline: bool = False,
    template: PromptTemplate | None = None,
) -> dict[str, list[int]]:
    """input_ids = tokens(prompt + output) + EOS; labels = the same with the prompt tokens set to -100.

    As in the git-disl `SupervisedDataset`, the prompt and the full text are tokenised separately and the first
    len(tokens(prompt)) labels are masked; the result is truncated to `max_length`.
    """
    prompt = row_prompt(example, trailing_newline=trailing_newline, template=template)
    prompt_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    full_ids = tokenizer(prompt + example["output"], add_special_tokens=True)["input_ids"] + [tokenizer.eos_token_id]
    full_ids = full_ids[:max_length]
    labels = list(full_ids)
    for i in range(min(len(prompt_ids), len(labels))):
        labels[i] = IGNORE_INDEX
    return {"input_ids": full_ids, "labels": labels}


def tokenize_rows(tokenizer, rows: Sequence[Mapping[str, Any]], *, max_length: int, trailing_newline: bool = False,
                  template: PromptTemplate | None = None):
    """`tokenize_example` over rows: a list usable as a torch Dataset by `transformers.Trainer`."""
    return [tokenize_example(tokenizer, row, max_length=max_length, trailing_newline=trailing_newline, template=template)
            for row in rows]


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


def calibration_batches(
    rows: list[Any], tokenizer, *, batch_size: int, max_length: int, trailing_newline: bool = True
) -> list[dict[str, Any]]:
    """Tokenise harmful rows (prompt + answer + EOS, step 1) into right-padded batches with attention masks.

    A row is either already tokenised (has `input_ids`) or a record with `instruction`, optional `input` and
    `output`, formatted with the Alpaca template: the run's (the pipeline passes its template settings), else
    Antidote's own (shared with SafeDelta's calibration), which ends in "### Response:\\n" (`utils.PROMPT_DICT`).
    """
    sequences = []
    for row in rows:
        if isinstance(row, Mapping) and "input_ids" in row:
            sequences.append({"input_ids": list(row["input_ids"])[:max_length]})
        else:
            example = tokenize_example(tokenizer, row, max_length=max_length, trailing_newline=trailing_newline)
            sequences.append({"input_ids": example["input_ids"]})
    collate = Collator(pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
    return [collate(sequences[start : start + batch_size]) for start in range(0, len(sequences), batch_size)]
