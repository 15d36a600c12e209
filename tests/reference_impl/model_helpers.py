"""Models shared by several defenses' math tests: a LoRA whose gradients are all non-zero (EWC, Vaccine,
T-Vaccine, TAR), and a tiny base / aligned pair that differ by a low-rank delta (Safe LoRA, SafeMERGE).

Not a test module (no `test_` prefix); the tests import it by name (pytest puts this folder on sys.path).
"""

from __future__ import annotations

import copy

#: The projections the pair's alignment delta (and the tests' LoRAs) touch.
TARGETS = ("q_proj", "v_proj")


def nonzero_lora(model):
    """`model` with a LoRA (r=4, alpha 8) without dropout, so that repeated passes are identical, and with
    B ~ N(0, 0.05) from seed 1 instead of peft's zeros, so that every LoRA gradient is non-zero."""
    import torch

    from reference_impl.common.models import LoraSettings, add_lora

    model = add_lora(model, LoraSettings(r=4, alpha=8, dropout=0.0))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(1))
    return model


def base_and_aligned(seed: int = 0):
    """base: a random 3-layer, 32-wide Llama (torch seeded with `seed`); aligned = base + a random rank-2 delta on
    every TARGETS projection (the "alignment"). Draws from torch's global generator: what a caller draws next
    depends on `seed`."""
    import torch
    import transformers

    torch.manual_seed(seed)
    config = transformers.LlamaConfig(vocab_size=61, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
                                      num_attention_heads=4, num_key_value_heads=4)
    base = transformers.LlamaForCausalLM(config)
    aligned = copy.deepcopy(base)
    with torch.no_grad():
        for name, module in aligned.named_modules():
            if name.endswith(TARGETS):
                module.weight += 0.05 * torch.randn(32, 2) @ torch.randn(2, 32)
    return base, aligned
