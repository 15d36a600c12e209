"""Booster's own math (arXiv 2409.01586; site/reference/protocol.md, 'Implementation notes') on a tiny Llama, checked against an independent functional computation."""

import pytest
import torch
from torch.func import functional_call

from reference_impl.common.harness import training_arguments
from reference_impl.common.models import LoraSettings, add_lora
from reference_impl.common.templates import Collator
from reference_impl.defenses import booster


def lora_model(model, dtype=torch.float32):
    """LoRA without dropout (repeated passes are identical) and with B != 0 (so every LoRA grad is non-zero)."""
    model = add_lora(model.to(dtype), LoraSettings(r=4, alpha=8, dropout=0.0))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) * 0.05)
    return model


def named_trainable(model):
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def plain_pass(model, batch):
    def run():
        loss = model(**batch).loss
        loss.backward()
        return loss.detach()

    return run


def expected_gradient(model, alignment, harmful, lam, alpha):
    """grad f + lam (grad h(w) - grad h(w - alpha grad h / |grad h|)), by torch.func on a copy of the weights."""
    names = list(named_trainable(model))
    w = {n: p.detach().clone().requires_grad_(True) for n, p in named_trainable(model).items()}

    def loss_at(weights, batch):
        return functional_call(model, weights, args=(), kwargs=batch, strict=False).loss

    grad_h = torch.autograd.grad(loss_at(w, harmful), [w[n] for n in names])
    norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grad_h)).float()
    moved = {n: (w[n] - alpha * g / (norm + 1e-7)).detach().requires_grad_(True) for n, g in zip(names, grad_h)}
    grad_h_moved = torch.autograd.grad(loss_at(moved, harmful), [moved[n] for n in names])
    grad_f = torch.autograd.grad(loss_at(w, alignment), [w[n] for n in names])
    return {n: gf + lam * (gh - ghm) for n, gf, gh, ghm in zip(names, grad_f, grad_h, grad_h_moved)}


@pytest.fixture
def batches(tiny_tokenizer, tokenized):
    collate = Collator(tiny_tokenizer.pad_token_id)
    return collate(tokenized["alignment"][:3]), collate(tokenized["harmful"][3:7])


def test_gradient_is_grad_f_plus_lambda_times_the_harmful_drop(tiny_model, batches):
    model = lora_model(tiny_model)
    alignment, harmful = batches
    lam, alpha = 5.0, 0.1
    params = named_trainable(model)
    want = expected_gradient(model, alignment, harmful, lam, alpha)
    model.zero_grad()

    losses = booster.booster_gradients(
        list(params.values()), plain_pass(model, alignment), plain_pass(model, harmful), lam=lam, alpha=alpha
    )
    for name, p in params.items():
        assert torch.allclose(p.grad, want[name], atol=1e-6, rtol=1e-5), name
    # The regulariser is not negligible here, so a missing or mis-signed term would be caught.
    grad_f_only = torch.autograd.grad(model(**alignment).loss, list(params.values()))
    assert max((p.grad - g).abs().max().item() for p, g in zip(params.values(), grad_f_only)) > 1e-4
    # One normalised step down the harmful gradient lowers the harmful loss (what the regulariser measures).
    assert losses["harmful_loss_after_step"] < losses["harmful_loss"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_weights_are_restored_exactly(tiny_model, batches, dtype):
    model = lora_model(tiny_model, dtype)
    alignment, harmful = batches
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    params = list(named_trainable(model).values())
    booster.booster_gradients(params, plain_pass(model, alignment), plain_pass(model, harmful), lam=5.0, alpha=0.1)
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]), name


def test_weights_are_restored_when_the_moved_pass_fails(tiny_model, batches):
    model = lora_model(tiny_model)
    alignment, harmful = batches
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    calls = []

    def harmful_pass():
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("out of memory at the moved weights")
        return plain_pass(model, harmful)()

    with pytest.raises(RuntimeError, match="out of memory"):
        booster.booster_gradients(list(named_trainable(model).values()), plain_pass(model, alignment), harmful_pass, 5.0, 0.1)
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]), name


def test_gradients_accumulated_before_the_step_are_kept(tiny_model, batches):
    model = lora_model(tiny_model)
    alignment, harmful = batches
    params = named_trainable(model)
    want = expected_gradient(model, alignment, harmful, 5.0, 0.1)
    earlier = {n: torch.randn_like(p) for n, p in params.items()}
    for n, p in params.items():
        p.grad = earlier[n].clone()
    booster.booster_gradients(list(params.values()), plain_pass(model, alignment), plain_pass(model, harmful), 5.0, 0.1)
    for n, p in params.items():
        assert torch.allclose(p.grad, earlier[n] + want[n], atol=1e-6, rtol=1e-5), n


def make_trainer(model, tokenizer, tokenized, tmp_path, config=None, **extra):
    args = training_arguments(tmp_path, per_device_train_batch_size=4, max_steps=2, learning_rate=1e-2, use_cpu=True)
    return booster.Trainer(
        model=model,
        args=args,
        train_dataset=tokenized["alignment"],
        data_collator=Collator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        defense_config=config,
        **extra,
    )


def test_trainer_runs_three_passes_on_one_harmful_batch_of_the_configured_size(tiny_model, tiny_tokenizer, tokenized, tmp_path):
    model = lora_model(tiny_model)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = make_trainer(
        model, tiny_tokenizer, tokenized, tmp_path, booster.Config(harmful_batch_size=3),
        extra_datasets={"harmful": tokenized["harmful"]},
    )
    seen = []
    original = trainer.forward_backward
    trainer.forward_backward = lambda m, batch, *a, **k: seen.append(batch) or original(m, batch, *a, **k)
    trainer.train()
    assert len(seen) == 3 * 2
    for step in range(2):
        first, second, third = seen[3 * step : 3 * step + 3]
        assert first is second  # both harmful passes see the SAME batch
        assert first["input_ids"].shape[0] == 3  # harmful_batch_size
        assert third["input_ids"].shape[0] == 4  # the alignment batch (per_device_train_batch_size)
    assert not torch.equal(seen[0]["input_ids"], seen[3]["input_ids"])  # a new harmful batch each step
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n for n in changed)


def test_trainer_without_harmful_data_says_so(tiny_model, tiny_tokenizer, tokenized, tmp_path):
    with pytest.raises(ValueError, match="harmful"):
        make_trainer(lora_model(tiny_model), tiny_tokenizer, tokenized, tmp_path)


def test_check_config_needs_a_harmful_dataset():
    with pytest.raises(ValueError, match="needs a harmful dataset"):
        booster.check_config(booster.Config(), {"alignment_data": True, "harmful_data": False})
    booster.check_config(booster.Config(), {"alignment_data": True, "harmful_data": True})


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"alpha": 0.0}, "alpha must be > 0"),
        ({"alpha": -0.1}, "alpha must be > 0"),
        ({"lam": -1.0}, "lam must be >= 0"),
        ({"harmful_batch_size": 0}, "harmful_batch_size"),
        ({"harmful_batch_size": 2.5}, "harmful_batch_size"),
    ],
)
def test_check_config_rejects_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        booster.check_config(booster.Config(**changes))


def test_defaults_are_the_papers():
    import dataclasses

    config = booster.Config()
    assert (config.lam, config.alpha, config.harmful_batch_size) == (5.0, 0.1, 10)
    for f in dataclasses.fields(booster.Config):
        assert f.metadata["help"] and f.metadata["source"]
