"""Models: load a causal LM and its tokenizer, add / continue / merge LoRA adapters, find decoder modules.

Everything the git-disl repositories do around the model (site/reference/protocol.md, 'LoRA settings' and 'Prompt template'):
* `load_model` / `load_tokenizer`: a local path or a hub id, with dtype and device map;
* `prepare_pad_token`: add `[PAD]` when the tokenizer has none and resize the embeddings, new rows set to the
  mean embedding ("smart_tokenizer_and_embedding_resize" in Vaccine/Lisa/Booster's train.py);
* `add_lora` (new adapter), `load_lora` (continue a saved adapter, `is_trainable=True`, as Booster's single-LoRA
  fine-tuning does), `merge_lora` (`merge_and_unload`);
* `tiny_llama` and `word_tokenizer` (tiny_models.py, re-exported here): a small Llama-architecture model and a
  word-level tokenizer built locally, for tests and the miniature world: nothing is downloaded;
* `decoder_layers`, `attention_modules`, `mlp_modules`: architecture-agnostic module discovery that sees through
  peft wrappers (site/reference/protocol.md, 'Implementation notes': never hard-code `base_model.model.model.layers`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch
from torch import nn

from .tiny_models import SPECIAL_TOKENS, TinyLlamaSpec, split_words, tiny_llama, word_tokenizer  # noqa: F401

#: The seven projection modules of a Llama decoder layer (Vaccine's and Lisa's alignment LoRA targets).
LLAMA_ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj", "gate_proj")

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}


def resolve_dtype(name: str | torch.dtype | None):
    """'bf16' / 'bfloat16' / 'float32' / 'auto' / None -> what `from_pretrained(dtype=...)` accepts."""
    if name is None or isinstance(name, torch.dtype) or name == "auto":
        return name
    try:
        return _DTYPES[str(name).lower()]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; use one of: auto, {', '.join(sorted(_DTYPES))}") from None


def looks_like_local_path(name_or_path: str) -> bool:
    """A hub id is `owner/name` (one slash, no leading ./ or /); anything else is meant as a local path."""
    text = str(name_or_path)
    return text.startswith((".", "/", "~")) or text.count("/") != 1 or Path(text).expanduser().exists()


def check_model_source(name_or_path: str) -> None:
    """Fail early (before any training) when a local model path does not exist."""
    if looks_like_local_path(name_or_path) and not Path(name_or_path).expanduser().exists():
        raise FileNotFoundError(f"model path does not exist: {name_or_path}")


def load_model(name_or_path: str | Path, *, dtype: str | None = "auto", device_map=None, **kwargs):
    """AutoModelForCausalLM from a local directory or a hub id (`device_map="auto"` as the git-disl repos do)."""
    from transformers import AutoModelForCausalLM

    check_model_source(str(name_or_path))
    return AutoModelForCausalLM.from_pretrained(
        str(name_or_path), dtype=resolve_dtype(dtype), device_map=device_map, **kwargs
    )


def load_tokenizer(name_or_path: str | Path, *, model_max_length: int = 200, **kwargs):
    """Tokenizer with right padding and the repos' `model_max_length` (200 Vaccine, 256 Booster, ...)."""
    from transformers import AutoTokenizer

    check_model_source(str(name_or_path))
    return AutoTokenizer.from_pretrained(
        str(name_or_path), model_max_length=model_max_length, padding_side="right", **kwargs
    )


def prepare_pad_token(tokenizer, model) -> None:
    """Give the tokenizer a pad token; new embedding rows get the mean of the old ones (site/reference/protocol.md, 'Prompt template')."""
    if tokenizer.pad_token is not None:
        return
    tokenizer.add_special_tokens({"pad_token": "[PAD]"})
    old = model.get_input_embeddings().weight.shape[0]
    model.resize_token_embeddings(len(tokenizer))
    with torch.no_grad():
        for embedding in (model.get_input_embeddings(), model.get_output_embeddings()):
            if embedding is None:
                continue
            weight = embedding.weight
            if weight.shape[0] > old:
                weight[old:] = weight[:old].mean(dim=0, keepdim=True)


# ---------------------------------------------------------------------------------------------------------
# LoRA


@dataclass(frozen=True)
class LoraSettings:
    """One LoRA configuration (site/reference/protocol.md, 'LoRA settings', lists each repository's)."""

    r: int = 8
    alpha: float = 4
    dropout: float = 0.1
    target_modules: tuple[str, ...] = LLAMA_ALL_LINEAR

    def to_peft(self):
        from peft import LoraConfig

        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=list(self.target_modules),
            bias="none",
            task_type="CAUSAL_LM",
        )


def add_lora(model, settings: LoraSettings):
    """Wrap `model` with a new, trainable LoRA adapter (B = 0, so the wrapped model equals `model`)."""
    from peft import get_peft_model

    return get_peft_model(model, settings.to_peft())


def load_lora(model, adapter_dir: str | Path, *, trainable: bool):
    """Attach a saved adapter; `trainable=True` continues training it (Booster's `--alternating single_lora`)."""
    from peft import PeftModel

    if not Path(adapter_dir).is_dir():
        raise FileNotFoundError(f"adapter directory does not exist: {adapter_dir}")
    return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=trainable)


def merge_lora(model):
    """Fold every LoRA into the base weights and return the plain model (no-op for a model without peft)."""
    if is_peft_model(model):
        return model.merge_and_unload()
    return model


def is_peft_model(model) -> bool:
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover - peft is a hard dependency of reference_impl
        return False
    return isinstance(model, PeftModel)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The transformers model under peft / DDP / accelerate wrappers."""
    seen = 0
    while seen < 8:
        seen += 1
        if hasattr(model, "module") and isinstance(model.module, nn.Module):  # DDP / DeepSpeed engines
            model = model.module
        elif is_peft_model(model):
            model = model.get_base_model()
        else:
            return model
    return model


# ---------------------------------------------------------------------------------------------------------
# Module discovery (site/reference/protocol.md, 'Implementation notes')

_LAYER_PATHS = ("model.layers", "model.decoder.layers", "transformer.h", "gpt_neox.layers", "transformer.layers")
_ATTENTION_NAMES = ("self_attn", "attn", "self_attention", "attention")
_MLP_NAMES = ("mlp", "feed_forward", "ffn")


def _get_path(module: nn.Module, dotted: str):
    for part in dotted.split("."):
        module = getattr(module, part, None)
        if module is None:
            return None
    return module


def decoder_layers(model: nn.Module) -> list[nn.Module]:
    """The decoder blocks in order, found through peft/DDP wrappers (Llama, Mistral, Qwen2, Gemma, OPT, GPT-2...)."""
    inner = unwrap_model(model)
    for path in _LAYER_PATHS:
        layers = _get_path(inner, path)
        if isinstance(layers, nn.ModuleList) and len(layers) > 0:
            return list(layers)
    # Fallback: the longest ModuleList in the model is the stack of decoder blocks.
    lists = [m for m in inner.modules() if isinstance(m, nn.ModuleList) and len(m) > 0]
    if not lists:
        raise ValueError(f"cannot find the decoder layers of {type(inner).__name__}")
    return list(max(lists, key=len))


def _child(layer: nn.Module, names: Iterable[str], what: str) -> nn.Module:
    for name in names:
        child = getattr(layer, name, None)
        if isinstance(child, nn.Module):
            return child
    raise ValueError(f"{type(layer).__name__} has no {what} sub-module (looked for: {', '.join(names)})")


def attention_modules(model: nn.Module) -> list[nn.Module]:
    """One self-attention module per decoder layer; its output[0] is the attention output before the residual add."""
    return [_child(layer, _ATTENTION_NAMES, "attention") for layer in decoder_layers(model)]


def mlp_modules(model: nn.Module) -> list[nn.Module]:
    """One MLP module per decoder layer (RepNoise / LDIFS hook `layers.{i}.mlp`)."""
    return [_child(layer, _MLP_NAMES, "MLP") for layer in decoder_layers(model)]


def trainable_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """(name, parameter) for every parameter with requires_grad (the LoRA weights under peft)."""
    return [(name, p) for name, p in model.named_parameters() if p.requires_grad]


def visit_linear_inputs(model, targets, batches, visit) -> int:
    """One no-grad, eval-mode forward pass over `batches` with a hook on each target linear layer: `visit(name, x)`
    gets that layer's input without the padding positions, as [tokens, d_in]. Returns the number of samples.
    Shared by the calibration statistics of Antidote (input energy) and SafeDelta (Hessians)."""
    current_mask: list = [None]  # attention mask of the batch being processed, read by the hooks

    def hook_for(name):
        def hook(_module, inputs, _output):
            x = inputs[0].detach()
            mask = current_mask[0]
            if mask is not None and x.dim() == 3 and x.shape[:2] == mask.shape:
                x = x[mask.bool()]  # padding left out
            visit(name, x.reshape(-1, x.shape[-1]))

        return hook

    handles = [linear.register_forward_hook(hook_for(name)) for name, linear in targets.items()]
    was_training = model.training
    model.eval()  # LoRA dropout off: A sees the same x as the base layer
    device = next(model.parameters()).device
    samples = 0
    try:
        with torch.no_grad():
            for batch in batches:
                input_ids = batch["input_ids"].to(device)
                mask = batch.get("attention_mask")
                mask = torch.ones_like(input_ids) if mask is None else mask.to(device)
                current_mask[0] = mask
                samples += input_ids.shape[0]
                model(input_ids=input_ids, attention_mask=mask, use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return samples
