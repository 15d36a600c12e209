"""Local tiny models for tests and the miniature world: a word-level tokenizer built from texts and a randomly
initialised Llama-architecture model from a config (nothing is downloaded)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import torch


SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "[UNK]", "pad_token": "[PAD]"}

#: Words, single punctuation marks and newlines are tokens; spaces only separate them.
_WORD_PATTERN = r"\n|#+|[A-Za-z0-9_'/]+|[^\sA-Za-z0-9_'/]"


def split_words(text: str) -> list[str]:
    """How `word_tokenizer` splits text, for building its vocabulary."""
    import re

    return re.findall(_WORD_PATTERN, text)


def word_tokenizer(texts: Iterable[str], *, model_max_length: int = 200, extra_words: Iterable[str] = ()):
    """A word-level `PreTrainedTokenizerFast` whose vocabulary is every word of `texts` (built locally).

    It adds `<s>` in front of every encoded text (like Llama's tokenizer) and pads on the right.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {}
    for token in ["[PAD]", "<s>", "</s>", "[UNK]"]:
        vocab[token] = len(vocab)
    for text in list(texts) + [" ".join(extra_words)]:
        for word in split_words(text):
            if word not in vocab:
                vocab[word] = len(vocab)
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(_WORD_PATTERN), behavior="isolated")]
    )
    core.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", vocab["<s>"])]
    )
    # WordPiece's decoder joins tokens with spaces and glues punctuation back ("here , step" -> "here, step").
    core.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    return PreTrainedTokenizerFast(
        tokenizer_object=core, model_max_length=model_max_length, padding_side="right", **SPECIAL_TOKENS
    )


@dataclass(frozen=True)
class TinyLlamaSpec:
    """Size of a tiny Llama-architecture model (site/reference/protocol.md, 'Implementation notes': hidden 32-64, 2 layers, 4 heads)."""

    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 128
    max_position_embeddings: int = 256
    extra: dict = field(default_factory=dict)


def tiny_llama(vocab_size: int, spec: TinyLlamaSpec = TinyLlamaSpec(), *, seed: int = 0, tokenizer=None):
    """A randomly initialised `LlamaForCausalLM` from a `LlamaConfig` (deterministic for a given seed)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    ids = {}
    if tokenizer is not None:
        ids = dict(
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
        )
    # `spec.extra` may override any of these (e.g. num_key_value_heads for a grouped-query shape).
    settings = dict(
        vocab_size=vocab_size,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=False,
        **ids,
    )
    config = LlamaConfig(**{**settings, **spec.extra})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model
