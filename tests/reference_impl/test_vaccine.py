"""Vaccine's own math (arXiv 2402.01109; site/reference/protocol.md, 'Implementation notes') on a tiny Llama, checked against independent autograd computations."""

import pytest
import torch

from model_helpers import nonzero_lora
from reference_impl.common.harness import training_arguments
from reference_impl.common.models import LoraSettings, add_lora, attention_modules
from reference_impl.common.templates import Collator
from reference_impl.defenses import vaccine


def batch_of(tokenizer, rows):
    return Collator(tokenizer.pad_token_id)(rows)


def trainable(model):
    return [p for p in model.parameters() if p.requires_grad]


def attention_output_grads_by_autograd(model, batch):
    """dL/d(attention output) obtained by torch.autograd.grad on the captured outputs (no tensor hooks)."""
    captured = []

    def keep(module, args, output):
        captured.append(output[0])

    handles = [m.register_forward_hook(keep) for m in attention_modules(model)]
    try:
        loss = model(**batch).loss
    finally:
        for h in handles:
            h.remove()
    return list(torch.autograd.grad(loss, captured))


def weight_grads_with_constant_offsets(model, batch, offsets):
    """grad_w L(w; eps) with the offsets added to the attention outputs as constants."""
    def add(offset):
        return lambda module, args, output: (output[0] + offset, *output[1:])

    handles = [m.register_forward_hook(add(e)) for m, e in zip(attention_modules(model), offsets)]
    try:
        loss = model(**batch).loss
    finally:
        for h in handles:
            h.remove()
    return list(torch.autograd.grad(loss, trainable(model))), loss.detach()


@pytest.fixture
def setup(tiny_model, tiny_tokenizer, tokenized):
    model = nonzero_lora(tiny_model)
    batch = batch_of(tiny_tokenizer, tokenized["alignment"][:3])
    return model, batch


def test_perturbation_has_global_norm_rho_and_follows_the_output_gradient(setup):
    model, batch = setup
    rho = 2.0
    _, _, eps = vaccine.vaccine_gradients(model, batch, attention_modules(model), rho)
    global_norm = torch.sqrt(sum((e.double() ** 2).sum() for e in eps))
    assert global_norm.item() == pytest.approx(rho, rel=1e-5)

    # Independent direction: the attention-output gradients from autograd.grad, normalised by hand.
    model.zero_grad()
    grads = attention_output_grads_by_autograd(model, batch)
    total = torch.sqrt(sum((g.double() ** 2).sum() for g in grads))
    assert len(eps) == len(grads) == 2
    for e, g in zip(eps, grads):
        assert e.shape == g.shape  # [batch, tokens, hidden]: one offset per token, on the attention output
        assert torch.allclose(e.double(), rho * g.double() / total, atol=1e-6)


def test_only_the_second_pass_gradient_reaches_the_optimizer(setup):
    model, batch = setup
    params = trainable(model)
    loss_clean, loss_perturbed, eps = vaccine.vaccine_gradients(model, batch, attention_modules(model), rho=2.0)
    got = [p.grad.clone() for p in params]

    model.zero_grad()
    expected, expected_loss = weight_grads_with_constant_offsets(model, batch, eps)
    clean = list(torch.autograd.grad(model(**batch).loss, params))
    assert loss_perturbed.item() == pytest.approx(expected_loss.item(), rel=1e-6)
    for g, want in zip(got, expected):
        assert torch.allclose(g, want, atol=1e-6, rtol=1e-5)
    # ... and not the sum of both passes, nor the clean gradient alone.
    differs = max((g - c).abs().max().item() for g, c in zip(got, clean))
    assert differs > 1e-4
    # One normalised ascent step in activation space raises the loss (the inner max of Vaccine's problem).
    assert loss_perturbed.item() >= loss_clean.item()


def test_gradients_accumulated_before_the_step_are_kept(setup):
    """Under gradient accumulation .grad already holds earlier micro-batches: Vaccine adds to it, never wipes it."""
    model, batch = setup
    params = trainable(model)
    earlier = [torch.randn_like(p) for p in params]
    for p, g in zip(params, earlier):
        p.grad = g.clone()
    _, _, eps = vaccine.vaccine_gradients(model, batch, attention_modules(model), rho=1.0)
    got = [p.grad.clone() for p in params]
    model.zero_grad()
    expected, _ = weight_grads_with_constant_offsets(model, batch, eps)
    for g, e, want in zip(got, earlier, expected):
        assert torch.allclose(g, e + want, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("reentrant", [False, True])
def test_gradient_checkpointing_gives_the_same_step(tiny_model, tiny_tokenizer, tokenized, reentrant):
    """Checkpointing re-runs the forward (and so the hooks) during backward: the step must not change."""
    import copy

    batch = batch_of(tiny_tokenizer, tokenized["alignment"][:3])
    results = []
    for checkpointing in (False, True):
        base = copy.deepcopy(tiny_model)
        if checkpointing:
            base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": reentrant})
            base.enable_input_require_grads()
        torch.manual_seed(0)  # the same LoRA A initialisation for both models
        model = nonzero_lora(base)
        model.train()
        _, loss, eps = vaccine.vaccine_gradients(model, batch, attention_modules(model), rho=2.0)
        results.append((loss, eps, [p.grad for p in trainable(model)]))
    (loss_a, eps_a, grads_a), (loss_b, eps_b, grads_b) = results
    assert loss_a.item() == pytest.approx(loss_b.item(), rel=1e-6)
    for x, y in zip(eps_a + grads_a, eps_b + grads_b):
        assert torch.allclose(x, y, atol=1e-6)


def test_hooks_are_removed_after_the_step(setup):
    model, batch = setup
    vaccine.vaccine_gradients(model, batch, attention_modules(model), rho=1.0)
    with torch.no_grad():
        plain = model(**batch).loss
    assert all(not m._forward_hooks for m in attention_modules(model))
    model.zero_grad()
    _, reference_loss = weight_grads_with_constant_offsets(model, batch, [0.0, 0.0])
    assert plain.item() == pytest.approx(reference_loss.item(), rel=1e-6)


def test_trainer_trains_only_lora_weights_with_two_passes_per_step(tiny_model, tiny_tokenizer, tokenized, tmp_path):
    model = add_lora(tiny_model, LoraSettings(r=4, alpha=8, dropout=0.0))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    args = training_arguments(tmp_path, per_device_train_batch_size=4, max_steps=3, learning_rate=1e-2, use_cpu=True)
    trainer = vaccine.Trainer(
        model=model,
        args=args,
        train_dataset=tokenized["alignment"],
        data_collator=Collator(tiny_tokenizer.pad_token_id),
        processing_class=tiny_tokenizer,
        defense_config=vaccine.Config(rho=0.5),
    )
    passes = []
    original = trainer.forward_backward
    trainer.forward_backward = lambda *a, **k: passes.append(1) or original(*a, **k)
    result = trainer.train()
    assert len(passes) == 2 * 3
    assert result.training_loss > 0
    assert trainer.last_losses["perturbed_loss"] >= trainer.last_losses["loss"]
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n for n in changed)


@pytest.mark.parametrize("rho", [0, -1.0])
def test_check_config_rejects_non_positive_rho(rho):
    with pytest.raises(ValueError, match="rho must be > 0"):
        vaccine.check_config(vaccine.Config(rho=rho))


def test_check_config_needs_alignment_data():
    with pytest.raises(ValueError, match="alignment dataset"):
        vaccine.check_config(vaccine.Config(), {"alignment_data": False})
    vaccine.check_config(vaccine.Config(), {"alignment_data": True})


def test_trainer_refuses_a_bad_config(tiny_model, tmp_path):
    args = training_arguments(tmp_path, use_cpu=True)
    with pytest.raises(ValueError, match="rho"):
        vaccine.Trainer(model=tiny_model, args=args, defense_config=vaccine.Config(rho=-2.0))


def test_config_is_frozen_and_every_field_documented():
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        vaccine.Config().rho = 3.0  # type: ignore[misc]
    for f in dataclasses.fields(vaccine.Config):
        assert f.metadata["help"] and f.metadata["source"]
