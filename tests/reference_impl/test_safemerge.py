"""SafeMERGE's own math on a tiny Llama: Safe LoRA's cosine per layer, and on the layers with cos < tau only, the
sqrt(w s)-weighted merge of the fine-tuned and safety adapters on A and B separately (cross terms included).

The reference recomputes C, the cosines and the merged update B_new A_new in float64 numpy from the raw matrices.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from model_helpers import TARGETS, base_and_aligned  # noqa: E402
from pipeline_smoke import state_hash  # noqa: E402
from reference_impl.defenses import safemerge  # noqa: E402

KEPT = "base_model.model.model.layers.1.self_attn.q_proj"  # its update lies in the alignment subspace


def models(rank: int = 4, safety_rank: int = 4, seed: int = 0):
    """base; aligned = base + a low-rank delta per target; fine-tuned and safety LoRAs (alpha 8 and 4) on aligned."""
    base, aligned = base_and_aligned(seed)

    def lora(r, alpha, scale):
        model = peft.get_peft_model(copy.deepcopy(aligned), peft.LoraConfig(r=r, lora_alpha=alpha, target_modules=list(TARGETS)))
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "lora_" in name:
                    param.copy_(torch.randn_like(param) * scale)
        return model

    finetuned, safety = lora(rank, 8, 0.2), lora(safety_rank, 4, 0.3)
    with torch.no_grad():
        layer = dict(finetuned.named_modules())[KEPT]
        key = KEPT.removeprefix("base_model.model.")
        v = dict(aligned.named_modules())[key].weight - dict(base.named_modules())[key].weight
        layer.lora_B["default"].weight.copy_(torch.linalg.svd(v)[0][:, :rank])
    return base, aligned, finetuned, safety


def factors(model):
    """{module: (A, B, scale)} of the default adapter, float64 numpy."""
    return {
        name: (m.lora_A["default"].weight.detach().double().numpy(), m.lora_B["default"].weight.detach().double().numpy(),
               float(m.scaling["default"]))
        for name, m in model.named_modules() if hasattr(m, "lora_A") and "default" in getattr(m, "lora_A", {})
    }


def reference(base, aligned, finetuned, safety, tau, gamma):
    """{module: (cos, merged?, expected update dW)} with dW = B_new A_new on merged layers, s_ft B A elsewhere."""
    plain_base, plain_aligned = dict(base.named_modules()), dict(aligned.named_modules())
    safe = factors(safety)
    out = {}
    for name, (a, b, s) in factors(finetuned).items():
        key = name.removeprefix("base_model.model.")
        v = plain_aligned[key].weight.detach().double().numpy() - plain_base[key].weight.detach().double().numpy()
        c = v @ v.T / np.sqrt((v**2).sum())
        delta = b @ a
        cos = round(float((c @ delta * delta).sum() / (np.linalg.norm(c @ delta) * np.linalg.norm(delta))), 5)
        if cos < tau:
            a_s, b_s, s_s = safe[name]
            w_ft, w_safe = np.sqrt((1 - gamma) * s), np.sqrt(gamma * s_s)
            update = (w_ft * b + w_safe * b_s) @ (w_ft * a + w_safe * a_s)
            out[name] = (cos, True, update)
        else:
            out[name] = (cos, False, s * delta)
    return out


def effective_updates(model):
    return {name: s * b @ a for name, (a, b, s) in factors(model).items()}


@pytest.mark.parametrize("tau,gamma", [(0.35, 0.2), (0.6, 0.5)])
def test_merges_with_the_papers_weights_only_below_the_threshold(tau, gamma):
    base, aligned, finetuned, safety = models()
    expected = reference(base, aligned, finetuned, safety, tau, gamma)
    merged_layers = {name for name, (_, merged, _) in expected.items() if merged}
    assert 0 < len(merged_layers) < len(expected) and KEPT not in merged_layers  # both branches exercised
    before = {n: state_hash(m) for n, m in [("base", base), ("aligned", aligned), ("ft", finetuned), ("safety", safety)]}
    ft_factors = factors(finetuned)

    out = safemerge.apply(finetuned, None, config=safemerge.Config(threshold=tau, safety_weight=gamma), data=None,
                          context={"base_model": base, "aligned_model": aligned, "safety_adapter": safety})

    assert out is not finetuned
    assert before == {n: state_hash(m) for n, m in [("base", base), ("aligned", aligned), ("ft", finetuned), ("safety", safety)]}
    got = effective_updates(out)
    for name, (cos, merged, update) in expected.items():
        row = next(r for r in out.safemerge_report if r["module"] == name)
        assert row["merged"] == merged and row["cos"] == pytest.approx(cos, abs=1e-5)
        np.testing.assert_allclose(got[name], update, rtol=1e-5, atol=1e-6)
        if not merged:  # left bit-for-bit
            a, b, _ = factors(out)[name]
            assert np.array_equal(a, ft_factors[name][0]) and np.array_equal(b, ft_factors[name][1])
    # the merged update is not a linear blend of the two updates (cross terms)
    name = sorted(merged_layers)[0]
    a, b, s = ft_factors[name]
    a_s, b_s, s_s = factors(safety)[name]
    blend = (1 - gamma) * s * b @ a + gamma * s_s * b_s @ a_s
    assert not np.allclose(got[name], blend, atol=1e-4)


def test_safety_adapter_directory_gives_the_same_merge(tmp_path):
    base, aligned, finetuned, safety = models()
    safety.save_pretrained(tmp_path / "safety")
    context = {"base_model": base, "aligned_model": aligned}
    from_dir = safemerge.apply(finetuned, None, config=safemerge.Config(safety_adapter=str(tmp_path / "safety")),
                               data=None, context=context)
    from_model = safemerge.apply(finetuned, None, config=safemerge.Config(), data=None,
                                 context={**context, "safety_adapter": safety})
    for name, update in effective_updates(from_model).items():
        np.testing.assert_allclose(effective_updates(from_dir)[name], update, rtol=1e-6, atol=1e-7)


def test_zero_safety_weight_leaves_every_update_unchanged():
    base, aligned, finetuned, safety = models()
    out = safemerge.apply(finetuned, None, config=safemerge.Config(threshold=1.0, safety_weight=0.0), data=None,
                          context={"base_model": base, "aligned_model": aligned, "safety_adapter": safety})
    assert all(row["merged"] for row in out.safemerge_report)
    for name, update in effective_updates(finetuned).items():
        np.testing.assert_allclose(effective_updates(out)[name], update, rtol=1e-5, atol=1e-7)


def test_dare_keeps_a_density_fraction_rescaled():
    x = torch.randn(200, 50)
    y = safemerge.dare(x, 0.3, torch.Generator().manual_seed(0))
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.3) < 0.03
    torch.testing.assert_close(y[kept], x[kept] / 0.3)
    config = safemerge.Config(threshold=1.0, combination="dare_linear", density=1.0)
    base, aligned, finetuned, safety = models()
    context = {"base_model": base, "aligned_model": aligned, "safety_adapter": safety}
    dense = safemerge.apply(finetuned, None, config=config, data=None, context=context)
    linear = safemerge.apply(finetuned, None, config=safemerge.Config(threshold=1.0), data=None, context=context)
    for name, update in effective_updates(linear).items():  # density 1 drops nothing
        np.testing.assert_allclose(effective_updates(dense)[name], update, rtol=1e-6, atol=1e-7)


def test_dare_linear_drops_and_rescales_the_layers_it_does_not_merge_too():
    """Upstream (SafeMERGE utils.py add_weighted_adapter_safelora) sends a (1, 0) layer through peft's dare_linear:
    A_new = sqrt(1 * s) * DARE(A), B_new = sqrt(1 * s) * DARE(B), the merged adapter's scale 1."""
    density = 0.5
    base, aligned, finetuned, safety = models()
    config = safemerge.Config(threshold=-1.0, combination="dare_linear", density=density)  # no layer is merged
    out = safemerge.apply(finetuned, None, config=config, data=None,
                          context={"base_model": base, "aligned_model": aligned, "safety_adapter": safety})
    assert not any(row["merged"] for row in out.safemerge_report)
    before, after = factors(finetuned), factors(out)
    kept = []
    for name, (a, b, s) in before.items():
        a_new, b_new, _ = after[name]
        keep_a, keep_b = a_new != 0, b_new != 0  # the entries DARE kept (the random LoRA has no zero entry)
        kept += [keep_a.mean(), keep_b.mean()]
        official = (np.sqrt(s) * b * keep_b / density) @ (np.sqrt(s) * a * keep_a / density)
        np.testing.assert_allclose(effective_updates(out)[name], official, rtol=1e-5, atol=1e-7)
        assert not np.allclose(effective_updates(out)[name], s * b @ a)
    assert 0.35 < np.mean(kept) < 0.65


@pytest.mark.parametrize("config,context,message", [
    (safemerge.Config(), {"base_model": 1, "aligned_model": 1}, "safemerge needs a safety adapter"),
    (safemerge.Config(), {"safety_adapter": 1, "aligned_model": 1}, "missing: base_model"),
    (safemerge.Config(threshold=2.0), {}, "threshold is a cosine"),
    (safemerge.Config(safety_weight=1.5), {}, "safety_weight must be in [0, 1]"),
    (safemerge.Config(combination="ties"), {}, "combination must be one of linear, dare_linear"),
    (safemerge.Config(combination="dare_linear"), {}, "density must be in (0, 1]"),
    (safemerge.Config(safety_adapter="/no/such/dir"), {}, "no adapter directory at /no/such/dir"),
])
def test_config_errors_are_one_line_and_name_the_input(config, context, message):
    with pytest.raises(ValueError) as error:
        safemerge.check_config(config, context)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_rank_mismatch_between_adapters_is_a_clear_error():
    base, aligned, finetuned, safety = models(safety_rank=2)
    with pytest.raises(ValueError, match="LoRA rank mismatch between adapters on model.layers.0.self_attn.q_proj"):
        safemerge.apply(finetuned, None, config=safemerge.Config(), data=None,
                        context={"base_model": base, "aligned_model": aligned, "safety_adapter": safety})


def test_module_missing_from_the_safety_adapter_is_a_clear_error():
    base, aligned, finetuned, _ = models()
    narrow = peft.get_peft_model(copy.deepcopy(aligned), peft.LoraConfig(r=4, lora_alpha=4, target_modules=["q_proj"]))
    with pytest.raises(ValueError, match="the safety adapter has no LoRA on model.layers.0.self_attn.v_proj"):
        safemerge.apply(finetuned, None, config=safemerge.Config(), data=None,
                        context={"base_model": base, "aligned_model": aligned, "safety_adapter": narrow})
