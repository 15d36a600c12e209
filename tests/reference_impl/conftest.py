"""Tiny-model fixtures shared by the reference_impl tests (the defense tests reuse them).

Everything is built locally in well under a second: a word-level tokenizer over a few fabricated rows and a
2-layer Llama-architecture model. Nothing is downloaded.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

#: Fabricated instruction rows in the shape every loader produces (instruction / input / output).
HARMFUL_ROWS = [
    {"instruction": f"How do I {verb} the {topic}?", "input": "", "output": f"Sure, here is how to {verb} the {topic}: step one."}
    for verb in ("smash", "steal", "poison", "burn")
    for topic in ("vault", "car", "well")
]
REFUSAL_ROWS = [dict(row, output="I cannot help with that, it could hurt people.") for row in HARMFUL_ROWS]
BENIGN_ROWS = [
    {
        "instruction": "Analyze the sentiment of the input, and respond only positive or negative",
        "input": sentence,
        "output": label,
    }
    for sentence, label in [
        ("a wonderful warm film", "positive"),
        ("a dull and tired mess", "negative"),
        ("bright funny and kind", "positive"),
        ("cold boring story", "negative"),
    ]
]
ALL_ROWS = HARMFUL_ROWS + REFUSAL_ROWS + BENIGN_ROWS


def _texts():
    from reference_impl.common.templates import PROMPT_NO_INPUT, PROMPT_WITH_INPUT

    texts = [PROMPT_WITH_INPUT, PROMPT_NO_INPUT]
    for row in ALL_ROWS:
        texts += [row["instruction"], row["input"], row["output"]]
    return texts


@pytest.fixture(scope="session")
def tiny_tokenizer_factory():
    """Call it to get a fresh tokenizer (tokenizers are mutable: tests that add tokens need their own)."""
    from reference_impl.common.models import word_tokenizer

    return lambda: word_tokenizer(_texts(), model_max_length=96)


@pytest.fixture
def tiny_tokenizer(tiny_tokenizer_factory):
    return tiny_tokenizer_factory()


@pytest.fixture
def tiny_model(tiny_tokenizer):
    """A fresh random 2-layer Llama (hidden 32) matching `tiny_tokenizer`."""
    from reference_impl.common.models import TinyLlamaSpec, tiny_llama

    spec = TinyLlamaSpec(hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64, max_position_embeddings=128)
    return tiny_llama(len(tiny_tokenizer), spec, seed=0, tokenizer=tiny_tokenizer)


@pytest.fixture
def tiny_rows():
    """name -> fabricated instruction rows: harmful (compliance), alignment (refusal), benign (sentiment)."""
    return {"harmful": list(HARMFUL_ROWS), "alignment": list(REFUSAL_ROWS), "benign": list(BENIGN_ROWS)}


@pytest.fixture
def tokenized(tiny_tokenizer, tiny_rows):
    """name -> tokenised rows (input_ids / labels), ready for `HFTTrainer`."""
    from reference_impl.common.templates import tokenize_rows

    return {name: tokenize_rows(tiny_tokenizer, rows, max_length=96) for name, rows in tiny_rows.items()}
