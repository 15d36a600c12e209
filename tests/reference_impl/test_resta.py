"""RESTA's own math on a tiny Llama: theta = theta_ft + b * (theta_aligned - theta_unaligned), with DARE (drop with
probability p, rescale by 1 / (1 - p)) on the fine-tuning delta when asked. The reference works on float64 copies."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from pipeline_smoke import state_hash  # noqa: E402
from reference_impl.defenses import resta  # noqa: E402


def models(seed: int = 0):
    """unaligned (random), aligned = unaligned + noise on every parameter, fine-tuned = peft LoRA on aligned."""
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(vocab_size=61, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=4)
    unaligned = transformers.LlamaForCausalLM(config)
    aligned = copy.deepcopy(unaligned)
    with torch.no_grad():
        for param in aligned.parameters():
            param += 0.01 * torch.randn_like(param)
    finetuned = peft.get_peft_model(copy.deepcopy(aligned), peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "down_proj"]))
    with torch.no_grad():
        for name, param in finetuned.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn_like(param) * 0.1)
    return unaligned, aligned, finetuned


def merged_state(peft_model):
    return {k: v.double() for k, v in copy.deepcopy(peft_model).merge_and_unload().state_dict().items()}


@pytest.mark.parametrize("scale", [1.0, 0.5, -0.3])
def test_adds_b_times_the_safety_vector_to_every_parameter(scale):
    unaligned, aligned, finetuned = models()
    hashes = [state_hash(m) for m in (unaligned, aligned, finetuned)]
    theta_ft = merged_state(finetuned)
    a, u = ({k: v.double() for k, v in m.state_dict().items()} for m in (aligned, unaligned))

    out = resta.apply(finetuned, None, config=resta.Config(scale=scale), data=None,
                      context={"aligned_model": aligned, "unaligned_model": unaligned})

    assert hashes == [state_hash(m) for m in (unaligned, aligned, finetuned)]  # inputs untouched
    assert not hasattr(out, "peft_config")  # a new plain model
    for name, param in out.named_parameters():
        expected = theta_ft[name] + scale * (a[name] - u[name])
        torch.testing.assert_close(param.detach().double(), expected, rtol=1e-5, atol=1e-6)


def test_dare_drops_and_rescales_the_fine_tuning_delta():
    unaligned, aligned, finetuned = models()
    theta_ft = merged_state(finetuned)
    a, u = ({k: v.double() for k, v in m.state_dict().items()} for m in (aligned, unaligned))
    p, b = 0.4, 0.7
    out = resta.apply(finetuned, None, config=resta.Config(scale=b, drop_rate=p), data=None,
                      context={"aligned_model": aligned, "unaligned_model": unaligned})
    kept = dropped = 0
    for name, param in out.named_parameters():
        delta = theta_ft[name] - a[name]
        thinned = param.detach().double() - b * (a[name] - u[name]) - a[name]  # what DARE left of the delta
        moved = delta.abs() > 1e-6
        if not moved.any():
            continue  # outside the LoRA targets the delta is zero and DARE changes nothing
        survived = (thinned - delta / (1 - p)).abs() <= 1e-5 + 1e-4 * delta.abs() / (1 - p)
        gone = thinned.abs() <= 1e-5
        assert bool((survived | gone)[moved].all()), name  # every entry is either dropped or rescaled by 1/(1-p)
        kept += int((survived & moved & ~gone).sum())
        dropped += int((gone & moved & ~survived).sum())
    assert abs(dropped / (kept + dropped) - p) < 0.05


def test_scale_zero_without_dare_gives_the_merged_fine_tuned_model():
    unaligned, aligned, finetuned = models()
    out = resta.apply(finetuned, None, config=resta.Config(scale=0.0), data=None,
                      context={"aligned_model": aligned, "unaligned_model": unaligned})
    theta_ft = merged_state(finetuned)
    for name, param in out.named_parameters():
        torch.testing.assert_close(param.detach().double(), theta_ft[name], rtol=0, atol=1e-7)


def test_unaligned_model_from_a_directory(tmp_path):
    unaligned, aligned, finetuned = models()
    unaligned.save_pretrained(tmp_path / "unaligned")
    from_dir = resta.apply(finetuned, None, config=resta.Config(unaligned_model=str(tmp_path / "unaligned")), data=None,
                           context={"aligned_model": aligned})
    from_model = resta.apply(finetuned, None, config=resta.Config(), data=None,
                             context={"aligned_model": aligned, "unaligned_model": unaligned})
    for (name, x), (_, y) in zip(from_dir.named_parameters(), from_model.named_parameters()):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


@pytest.mark.parametrize("config,context,message", [
    (resta.Config(), {"aligned_model": 1}, "resta needs an unaligned model"),
    (resta.Config(), {"unaligned_model": 1}, "resta needs the aligned model"),
    (resta.Config(drop_rate=1.0), {}, "drop_rate must be in [0, 1)"),
    (resta.Config(scale=float("nan")), {}, "scale must be a finite number"),
    (resta.Config(unaligned_model="/no/such/model"), {"aligned_model": 1}, "no model directory at /no/such/model"),
])
def test_config_errors_are_one_line_and_name_the_input(config, context, message):
    with pytest.raises(ValueError) as error:
        resta.check_config(config, context)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_shape_mismatch_names_the_parameter():
    unaligned, aligned, finetuned = models()
    other = transformers.LlamaForCausalLM(transformers.LlamaConfig(vocab_size=61, hidden_size=16, intermediate_size=48,
                                                                   num_hidden_layers=2, num_attention_heads=4))
    with pytest.raises(ValueError, match="parameter model.embed_tokens.weight is .* in the unaligned model"):
        resta.apply(finetuned, None, config=resta.Config(), data=None,
                    context={"aligned_model": aligned, "unaligned_model": other})
