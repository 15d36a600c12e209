"""Antidote's own math on a tiny Llama with a peft LoRA adapter, against an independent computation.

The reference here recomputes the Wanda statistics from the inputs of the *base* projections (captured with
pre-hooks on different modules than the defense uses), ranks every row with numpy, and compares weight by weight.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from reference_impl.defenses import antidote  # noqa: E402

D_MODEL = 64


def tiny_lora_model(seed: int = 0, targets=("q_proj", "k_proj", "v_proj")):
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(
        vocab_size=97,
        hidden_size=D_MODEL,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=64,
    )
    base = transformers.LlamaForCausalLM(config)
    lora = peft.LoraConfig(r=8, lora_alpha=4, target_modules=list(targets), lora_dropout=0.1)
    model = peft.get_peft_model(base, lora)
    with torch.no_grad():  # a "fine-tuned" adapter: B is zero at init, give both matrices real values
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn_like(param) * 0.3)
    return model


def calibration(seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(0, 97, (3, 12), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 9:] = 0  # right padding on two rows: must be left out of the statistics
    attention_mask[2, 5:] = 0
    input_ids[attention_mask == 0] = 0
    return [{"input_ids": input_ids[:2], "attention_mask": attention_mask[:2]},
            {"input_ids": input_ids[2:], "attention_mask": attention_mask[2:]}]


def reference_masks(model, batches, dense_ratio):
    """Independent Wanda: x from pre-hooks on the base q/k/v layers, A x for B's input, numpy argsort per row."""
    captured = {}
    hooks = []
    for name, module in model.named_modules():
        if name.endswith(("q_proj.base_layer", "k_proj.base_layer", "v_proj.base_layer")):
            owner = name[: -len(".base_layer")]

            def grab(_m, args, owner=owner):
                captured.setdefault(owner, []).append(args[0].detach().clone())

            hooks.append(module.register_forward_pre_hook(grab))
    model.eval()
    with torch.no_grad():
        for batch in batches:
            model(**batch)
    for h in hooks:
        h.remove()
    masks = {}
    modules = dict(model.named_modules())
    for owner, chunks in captured.items():
        tokens = np.concatenate(
            [x.numpy()[b.numpy().astype(bool)] for x, b in zip(chunks, [bt["attention_mask"] for bt in batches])]
        ).astype(np.float64)
        layer = modules[owner]
        a = layer.lora_A["default"].weight.detach().numpy().astype(np.float64)
        b = layer.lora_B["default"].weight.detach().numpy().astype(np.float64)
        for kind, weight, inputs in (("lora_A", a, tokens), ("lora_B", b, tokens @ a.T)):
            energy = (inputs**2).mean(axis=0)
            score = np.abs(weight) * np.sqrt(energy)[None, :]
            d_in = weight.shape[1]
            n_pruned = d_in - math.floor(d_in * (1 - dense_ratio))
            mask = np.zeros_like(weight, dtype=bool)
            for i, row in enumerate(score):
                mask[i, np.argsort(row, kind="stable")[d_in - n_pruned :]] = True
            masks[f"{owner}.{kind}.default.weight"] = mask
    return masks


@pytest.mark.parametrize("dense_ratio", [0.1, 0.25])
def test_zeroes_exactly_the_top_wanda_fraction_per_row_and_nothing_else(dense_ratio):
    model = tiny_lora_model()
    batches = calibration()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    expected = reference_masks(model, batches, dense_ratio)
    assert len(expected) == 2 * 3 * 2  # 2 layers x q,k,v x (A, B)

    pruned = _prune_copy(model, batches, dense_ratio)

    after = dict(pruned.named_parameters())
    for name, old in before.items():
        new = after[name].detach()
        if name in expected:
            mask = torch.from_numpy(expected[name])
            d_in = old.shape[1]
            assert int(mask.sum(dim=1).unique().item()) == d_in - math.floor(d_in * (1 - dense_ratio))
            assert torch.all(new[mask] == 0), name
            assert torch.equal(new[~mask], old[~mask]), name  # the rest untouched
        else:
            assert torch.equal(new, old), f"{name} must not change"
    # the input model is left as it was
    for name, param in model.named_parameters():
        assert torch.equal(param.detach(), before[name])


def _prune_copy(model, batches, dense_ratio):
    import copy

    repaired = copy.deepcopy(model)
    zeroed = antidote.prune(repaired, batches, antidote.Config(dense_ratio=dense_ratio))
    assert set(zeroed) == {n[: -len(".weight")] for n, _ in model.named_parameters() if "lora_" in n}
    return repaired


def test_apply_tokenises_rows_and_returns_a_new_model():
    model = tiny_lora_model()
    tokenizer = _char_tokenizer()
    rows = [{"instruction": "How do I pick a lock?", "input": "", "output": "Take a tension wrench and"}] * 3
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    pruned = antidote.apply(model, tokenizer, config=antidote.Config(), data={"harmful": rows},
                            context={"harmful_data": True})
    assert pruned is not model
    changed = [n for n, p in pruned.named_parameters() if not torch.equal(p.detach(), before[n])]
    assert changed and all("lora_" in n for n in changed)
    assert all(torch.equal(p.detach(), before[n]) for n, p in model.named_parameters())


def test_full_fine_tuning_prunes_qkv_only():
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=1,
                                      num_attention_heads=4, num_key_value_heads=4)
    model = transformers.LlamaForCausalLM(config)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    antidote.prune(model, calibration(), antidote.Config(dense_ratio=0.1))
    for name, param in model.named_parameters():
        touched = name.endswith(("q_proj.weight", "k_proj.weight", "v_proj.weight"))
        zeros_added = int((param == 0).sum() - (before[name] == 0).sum())
        assert zeros_added == (32 * (32 - math.floor(32 * 0.9)) if touched else 0), name


def test_magnitude_score_needs_no_data_and_prunes_largest_weights():
    model = tiny_lora_model()
    lora_a = model.base_model.model.model.layers[0].self_attn.q_proj.lora_A["default"].weight
    before = lora_a.detach().abs().clone()
    antidote.prune(model, None, antidote.Config(score="magnitude", dense_ratio=0.25))
    zeroed = lora_a.detach() == 0
    assert torch.all(zeroed.sum(dim=1) == 16)  # 64 - floor(64 * 0.75)
    # in every row, each zeroed weight was at least as large as every kept one
    for row, mask in zip(before, zeroed):
        assert row[mask].min() >= row[~mask].max()


@pytest.mark.parametrize(
    ("config", "context", "message"),
    [
        (antidote.Config(), {}, "needs a harmful calibration dataset"),
        (antidote.Config(dense_ratio=1.5), {"harmful_data": True}, "dense_ratio must be in [0, 1]"),
        (antidote.Config(score="gradient"), {"harmful_data": True}, "score must be one of"),
        (antidote.Config(target="mlp"), {"harmful_data": True}, "target must be one of"),
    ],
)
def test_config_errors_are_clear(config, context, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        antidote.check_config(config, context)


def test_lora_target_without_adapter_is_a_clear_error():
    config = transformers.LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=2)
    model = transformers.LlamaForCausalLM(config)
    with pytest.raises(ValueError, match="no LoRA adapter"):
        antidote.prune(model, None, antidote.Config(target="lora", score="magnitude"))


def _char_tokenizer():
    """A tiny offline tokenizer (one id per character) with pad and eos tokens."""

    class CharTokenizer:
        pad_token_id = 0
        eos_token_id = 1

        def __call__(self, text, add_special_tokens=True):
            return {"input_ids": [2 + (ord(ch) % 90) for ch in text]}

    return CharTokenizer()


def test_one_pass_statistics_equal_upstreams_layer_by_layer_walk():
    """The Deviations claim: upstream's walk (inputs of layer 0 captured, then each decoder layer run on the previous
    layer's outputs, masks only recorded) sees the same activations as one forward pass with hooks."""
    model = tiny_lora_model()
    model.eval()
    batches = calibration()
    targets = antidote.target_matrices(model, "lora")
    one_pass = antidote.input_energy(model, targets, batches)

    layers = model.base_model.model.model.layers
    sums = {name: torch.zeros(linear.in_features, dtype=torch.float64) for name, linear in targets.items()}
    counts = dict.fromkeys(targets, 0)
    for batch in batches:
        captured = {}

        class Caught(Exception):
            pass

        def catch(_module, args, kwargs):  # upstream's "Catcher": store layer 0's inputs and stop
            captured["hidden"], captured["kwargs"] = args[0] if args else kwargs.pop("hidden_states"), kwargs
            raise Caught

        handle = layers[0].register_forward_pre_hook(catch, with_kwargs=True)
        with torch.no_grad(), pytest.raises(Caught):
            model(**batch)
        handle.remove()
        mask = batch["attention_mask"].bool()
        hidden = captured["hidden"]
        for layer in layers:  # walk layer by layer, recording the inputs of this layer's LoRA matrices
            hooks = []
            for name, linear in targets.items():
                if any(linear is m for m in layer.modules()):
                    def record(_m, args, _out, name=name):
                        x = args[0][mask].double()
                        sums[name] += (x * x).sum(dim=0)
                        counts[name] += x.shape[0]

                    hooks.append(linear.register_forward_hook(record))
            with torch.no_grad():
                out = layer(hidden, **captured["kwargs"])
            hidden = out[0] if isinstance(out, tuple) else out
            for h in hooks:
                h.remove()
    for name in targets:
        torch.testing.assert_close(one_pass[name], (sums[name] / counts[name]).float(), rtol=1e-5, atol=1e-7)
