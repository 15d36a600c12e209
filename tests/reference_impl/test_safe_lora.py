"""Safe LoRA's own math on a tiny Llama: C = V V^T / ||V||_F, cos(C B A, B A), B <- C B on the chosen layers only.

The reference computes C, the cosines and the expected B in float64 numpy from the raw weight matrices.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from model_helpers import TARGETS, base_and_aligned  # noqa: E402
from reference_impl.defenses import safe_lora  # noqa: E402


def tiny_pair_and_finetuned(seed: int = 0, rank: int = 4):
    """base, aligned = base + a random low-rank delta per target (the "alignment"), and a LoRA fine-tune of aligned."""
    base, aligned = base_and_aligned(seed)
    finetuned = peft.get_peft_model(copy.deepcopy(aligned), peft.LoraConfig(r=rank, lora_alpha=8, target_modules=list(TARGETS)))
    with torch.no_grad():
        for name, param in finetuned.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn_like(param) * 0.2)
        # make one layer's update lie inside the alignment subspace, so its cos is high and it is never chosen
        layer = finetuned.base_model.model.model.layers[1].self_attn.q_proj
        v = (aligned.model.layers[1].self_attn.q_proj.weight - base.model.layers[1].self_attn.q_proj.weight)
        u, _, _ = torch.linalg.svd(v)
        layer.lora_B["default"].weight.copy_(u[:, :rank])
    return base, aligned, finetuned


def reference(base, aligned, finetuned):
    """{module: (cos, C @ B, B)} in float64 numpy."""
    plain_base, plain_aligned = dict(base.named_modules()), dict(aligned.named_modules())
    out = {}
    for name, module in finetuned.named_modules():
        if not hasattr(module, "lora_A") or "default" not in getattr(module, "lora_A", {}):
            continue
        key = name.removeprefix("base_model.model.")
        v = plain_aligned[key].weight.detach().double().numpy() - plain_base[key].weight.detach().double().numpy()
        c = v @ v.T / np.sqrt((v**2).sum())
        a = module.lora_A["default"].weight.detach().double().numpy()
        b = module.lora_B["default"].weight.detach().double().numpy()
        delta = b @ a
        projected = c @ delta
        cos = (projected * delta).sum() / (np.linalg.norm(projected) * np.linalg.norm(delta))
        out[name] = (cos, c @ b, b)
    return out


@pytest.mark.parametrize("config", [safe_lora.Config(mode="number", num_proj_layers=3),
                                    safe_lora.Config(mode="threshold", threshold=0.3)])
def test_projects_chosen_layers_to_c_b_and_leaves_the_rest(config):
    base, aligned, finetuned = tiny_pair_and_finetuned()
    expected = reference(base, aligned, finetuned)
    assert len(expected) == 6
    cosines = {name: row[0] for name, row in expected.items()}
    if config.mode == "number":
        chosen = set(sorted(cosines, key=cosines.get)[:3])
    else:
        chosen = {name for name, cos in cosines.items() if cos <= 0.3}
    assert 0 < len(chosen) < 6  # the fixture must exercise both branches
    assert "base_model.model.model.layers.1.self_attn.q_proj" not in chosen  # its update lies in the subspace
    before = {n: p.detach().clone() for n, p in finetuned.named_parameters()}

    safe = safe_lora.apply(finetuned, None, config=config, data=None,
                           context={"base_model": base, "aligned_model": aligned})

    modules = dict(safe.named_modules())
    report = {row["module"]: row for row in safe.safe_lora_report}
    for name, (cos, c_b, b) in expected.items():
        assert report[name]["cos"] == pytest.approx(cos, abs=1e-5)
        assert report[name]["projected"] == (name in chosen)
        new_b = modules[name].lora_B["default"].weight.detach().double().numpy()
        np.testing.assert_allclose(new_b, c_b if name in chosen else b, rtol=1e-5, atol=1e-6)
    # A matrices, base weights and everything else untouched; the input model untouched
    for name, param in safe.named_parameters():
        if "lora_B" not in name:
            assert torch.equal(param.detach(), before[name]), name
    for name, param in finetuned.named_parameters():
        assert torch.equal(param.detach(), before[name]), name


def test_threshold_one_projects_every_layer():
    base, aligned, finetuned = tiny_pair_and_finetuned(seed=3)
    safe = safe_lora.apply(finetuned, None, config=safe_lora.Config(mode="threshold", threshold=1.0), data=None,
                           context={"base_model": base, "aligned_model": aligned})
    assert all(row["projected"] for row in safe.safe_lora_report)


def test_projection_matrix_is_v_vt_over_frobenius_norm():
    v_aligned, v_base = torch.randn(5, 7, dtype=torch.float64), torch.randn(5, 7, dtype=torch.float64)
    c = safe_lora.projection_matrix(v_aligned, v_base)
    v = (v_aligned - v_base).float()
    torch.testing.assert_close(c, v @ v.T / torch.linalg.matrix_norm(v, "fro"))
    assert safe_lora.projection_matrix(v_base, v_base) is None  # no alignment direction


def test_module_alignment_left_unchanged_is_skipped():
    base, aligned, finetuned = tiny_pair_and_finetuned()
    with torch.no_grad():  # alignment never touched layer 2's v_proj
        aligned.model.layers[2].self_attn.v_proj.weight.copy_(base.model.layers[2].self_attn.v_proj.weight)
    safe = safe_lora.apply(finetuned, None, config=safe_lora.Config(mode="threshold", threshold=1.0), data=None,
                           context={"base_model": base, "aligned_model": aligned})
    row = next(r for r in safe.safe_lora_report if r["module"].endswith("layers.2.self_attn.v_proj"))
    assert not row["projected"] and "unchanged" in row["note"]
    assert sum(r["projected"] for r in safe.safe_lora_report) == 5


def test_missing_pair_is_a_clear_error():
    _, aligned, finetuned = tiny_pair_and_finetuned()
    with pytest.raises(ValueError, match="unaligned/aligned model pair.*missing: base_model"):
        safe_lora.apply(finetuned, None, config=safe_lora.Config(), data=None, context={"aligned_model": aligned})


def test_bad_config_values_are_clear_errors():
    ok = {"base_model": object(), "aligned_model": object()}
    with pytest.raises(ValueError, match="mode must be one of"):
        safe_lora.check_config(safe_lora.Config(mode="all"), ok)
    with pytest.raises(ValueError, match="threshold is a cosine"):
        safe_lora.check_config(safe_lora.Config(threshold=2.0), ok)


def test_rank_mismatch_and_shape_mismatch_are_clear_errors():
    base, aligned, finetuned = tiny_pair_and_finetuned()
    layer = finetuned.base_model.model.model.layers[0].self_attn.q_proj
    layer.lora_A["default"].weight = torch.nn.Parameter(torch.zeros(3, 32))  # rank 3, B and config say 4
    with pytest.raises(ValueError, match="LoRA rank mismatch in .*layers.0.self_attn.q_proj"):
        safe_lora.apply(finetuned, None, config=safe_lora.Config(), data=None,
                        context={"base_model": base, "aligned_model": aligned})

    base, aligned, finetuned = tiny_pair_and_finetuned()
    other = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=61, hidden_size=16, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=4))
    with pytest.raises(ValueError, match=r"\(32, 32\) in the fine-tuned model but \(16, 16\)"):
        safe_lora.apply(finetuned, None, config=safe_lora.Config(), data=None,
                        context={"base_model": other, "aligned_model": other})


def test_model_without_lora_is_a_clear_error():
    base, aligned, _ = tiny_pair_and_finetuned()
    with pytest.raises(ValueError, match="works on a LoRA adapter"):
        safe_lora.apply(copy.deepcopy(aligned), None, config=safe_lora.Config(), data=None,
                        context={"base_model": base, "aligned_model": aligned})
