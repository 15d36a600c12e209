"""Panacea's own math (arXiv 2501.18100; site/reference/protocol.md, 'Implementation notes') on a tiny Llama, checked against an independent functional computation:
the fine-tuning gradient is grad f - lambda (grad h(w + eps) - grad h(w)) with eps = rho grad h / ||grad h|| (the
harmful *ascent* direction), the weights are restored, and after training the model holds w + eps with ||eps|| = rho."""

import dataclasses

import pytest
import torch
from torch.func import functional_call

from reference_impl.common.harness import training_arguments
from reference_impl.common.templates import Collator
from reference_impl.defenses import panacea
from test_booster import lora_model, named_trainable  # the same LoRA fixture as Booster's math test


def loss_at(model, weights, batch):
    return functional_call(model, weights, args=(), kwargs=batch, strict=False).loss


def expected(model, user, harmful, lam, rho, clamp=None):
    """(gradient, eps): g_f - lam (g_h(w + eps) - g_h(w)), eps = rho g_h / (|g_h| + 1e-7), by torch.func on copies."""
    names = list(named_trainable(model))
    w = {n: p.detach().clone().requires_grad_(True) for n, p in named_trainable(model).items()}
    grad_f = torch.autograd.grad(loss_at(model, w, user), [w[n] for n in names])
    grad_h = torch.autograd.grad(loss_at(model, w, harmful), [w[n] for n in names])
    norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grad_h)).float()
    eps = {n: rho * g / (norm + 1e-7) for n, g in zip(names, grad_h)}
    moved = {n: (w[n] + eps[n]).detach().requires_grad_(True) for n in names}
    h_moved = loss_at(model, moved, harmful)
    if clamp is not None:
        h_moved = torch.clamp(h_moved, max=clamp)
    grad_moved = torch.autograd.grad(h_moved, [moved[n] for n in names], allow_unused=True)
    grad_moved = [torch.zeros_like(w[n]) if g is None else g for n, g in zip(names, grad_moved)]
    return {n: gf - lam * (gm - gh) for n, gf, gh, gm in zip(names, grad_f, grad_h, grad_moved)}, eps


def passes(model, user, harmful):
    def finetune_pass():
        loss = model(**user).loss
        loss.backward()
        return loss.detach()

    def harmful_pass(clamp):
        loss = model(**harmful).loss
        if clamp is not None:
            loss = torch.clamp(loss, max=clamp)
        loss.backward()
        return loss.detach()

    return finetune_pass, harmful_pass


@pytest.fixture
def batches(tiny_tokenizer, tokenized):
    collate = Collator(tiny_tokenizer.pad_token_id)
    return collate(tokenized["benign"][:3]), collate(tokenized["harmful"][3:7])


@pytest.mark.parametrize("lam,rho", [(0.5, 1.0), (2.0, 0.3)])
def test_gradient_is_grad_f_minus_lambda_times_the_perturbation_gain(tiny_model, batches, lam, rho):
    model = lora_model(tiny_model)
    user, harmful = batches
    params = named_trainable(model)
    want, want_eps = expected(model, user, harmful, lam, rho)
    model.zero_grad()
    losses, eps = panacea.panacea_gradients(list(params.values()), *passes(model, user, harmful), lam=lam, rho=rho, clamp=None)
    for (name, p), e in zip(params.items(), eps):
        assert torch.allclose(p.grad, want[name], atol=1e-6, rtol=1e-5), name
        assert torch.allclose(e, want_eps[name], atol=1e-7, rtol=1e-5), name
    assert torch.sqrt(sum((e.double() ** 2).sum() for e in eps)).item() == pytest.approx(rho, rel=1e-5)
    # The perturbation term is not negligible here, so a missing or mis-signed term would be caught.
    grad_f = torch.autograd.grad(model(**user).loss, list(params.values()))
    assert max((p.grad - g).abs().max().item() for p, g in zip(params.values(), grad_f)) > 1e-4
    flipped, _ = expected(model, user, harmful, -lam, rho)  # the other sign convention differs measurably
    assert any(not torch.allclose(p.grad, flipped[n], atol=1e-6, rtol=1e-5) for n, p in params.items())
    # eps is the ascent direction: the harmful loss rises at w + eps
    assert losses["harmful_loss_perturbed"] > losses["harmful_loss"]


def test_clamped_harmful_loss_stops_pushing(tiny_model, batches):
    model = lora_model(tiny_model)
    user, harmful = batches
    params = named_trainable(model)
    want, _ = expected(model, user, harmful, 1.0, 1.0, clamp=0.01)  # h(w + eps) > 0.01: its gradient is zero
    model.zero_grad()
    losses, _ = panacea.panacea_gradients(list(params.values()), *passes(model, user, harmful), lam=1.0, rho=1.0, clamp=0.01)
    assert losses["harmful_loss_perturbed"] == pytest.approx(0.01)
    for name, p in params.items():
        assert torch.allclose(p.grad, want[name], atol=1e-6, rtol=1e-5), name


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_weights_are_restored_exactly(tiny_model, batches, dtype):
    model = lora_model(tiny_model, dtype)
    user, harmful = batches
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    panacea.panacea_gradients(list(named_trainable(model).values()), *passes(model, user, harmful), lam=1.0, rho=1.0)
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]), name


def make_trainer(model, tokenizer, tokenized, tmp_path, config=None, lr=1e-2, steps=2, **extra):
    args = training_arguments(tmp_path, per_device_train_batch_size=4, max_steps=steps, learning_rate=lr, use_cpu=True)
    return panacea.Trainer(model=model, args=args, train_dataset=tokenized["benign"], data_collator=Collator(tokenizer.pad_token_id),
                           processing_class=tokenizer, defense_config=config, **extra)


def test_trained_model_is_w_plus_the_last_eps(tiny_model, tiny_tokenizer, tokenized, tmp_path):
    """lr = 0: the optimizer leaves w alone, so the trained model must be w0 + eps(w0), eps computed independently on
    the whole harmful set (harmful_batch_size = its size, so the one harmful batch holds every row)."""
    model = lora_model(tiny_model)
    harmful_rows = tokenized["harmful"][:6]
    config = panacea.Config(harmful_batch_size=len(harmful_rows), rho=0.5)
    collate = Collator(tiny_tokenizer.pad_token_id)
    user = collate(tokenized["benign"][:4])
    _, want_eps = expected(model, user, collate(harmful_rows), config.lam, config.rho)
    before = {n: p.detach().clone() for n, p in named_trainable(model).items()}
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    trainer = make_trainer(model, tiny_tokenizer, tokenized, tmp_path, config, lr=0.0, steps=1,
                           extra_datasets={"harmful": harmful_rows})
    trainer.train()
    for name, p in named_trainable(model).items():
        assert torch.allclose(p.detach() - before[name], want_eps[name], atol=1e-6, rtol=1e-4), name
    assert torch.sqrt(sum((e.double() ** 2).sum() for e in trainer.epsilon)).item() == pytest.approx(0.5, rel=1e-5)
    for name, p in model.named_parameters():  # only the LoRA (the trainable parameters) moves
        if name in frozen:
            assert torch.equal(p, frozen[name]), name


def test_trainer_runs_three_passes_per_step_on_one_harmful_batch(tiny_model, tiny_tokenizer, tokenized, tmp_path):
    model = lora_model(tiny_model)
    trainer = make_trainer(model, tiny_tokenizer, tokenized, tmp_path, panacea.Config(harmful_batch_size=3),
                           extra_datasets={"harmful": tokenized["harmful"]})
    seen = []
    original = trainer.forward_backward
    trainer.forward_backward = lambda m, batch, *a, **k: seen.append(batch) or original(m, batch, *a, **k)
    trainer.train()
    assert len(seen) == 3 * 2
    for step in range(2):
        user, harmful, harmful_again = seen[3 * step : 3 * step + 3]
        assert harmful is harmful_again and harmful["input_ids"].shape[0] == 3
        assert user["input_ids"].shape[0] == 4


def test_trainer_without_harmful_data_says_so(tiny_model, tiny_tokenizer, tokenized, tmp_path):
    with pytest.raises(ValueError, match="harmful"):
        make_trainer(lora_model(tiny_model), tiny_tokenizer, tokenized, tmp_path)


@pytest.mark.parametrize("changes, message", [
    ({"rho": 0.0}, "rho must be > 0"),
    ({"lam": -1.0}, "lam must be >= 0"),
    ({"harmful_loss_clamp": 0.0}, "harmful_loss_clamp must be > 0"),
    ({"harmful_batch_size": 0}, "harmful_batch_size"),
])
def test_check_config_rejects_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        panacea.check_config(panacea.Config(**changes))


def test_check_config_needs_a_harmful_dataset():
    with pytest.raises(ValueError, match="needs a harmful dataset"):
        panacea.check_config(panacea.Config(), {"harmful_data": []})


def test_defaults_are_the_papers():
    config = panacea.Config()
    assert (config.lam, config.rho, config.harmful_batch_size, config.harmful_loss_clamp) == (0.001, 1.0, 10, 5.0)
    assert panacea.METHOD.stage == "fine_tuning" and panacea.METHOD.finetune_lora == "continue"
    for f in dataclasses.fields(panacea.Config):
        assert f.metadata["help"] and f.metadata["source"]



@pytest.mark.parametrize("name", ["safemerge", "resta", "safedelta", "panacea"])
def test_the_pipeline_reads_only_the_method_spec(name):
    import importlib

    module = importlib.import_module(f"reference_impl.defenses.{name}")
    assert module.METHOD.config is module.Config and module.METHOD.check is module.check_config
    assert not any(hasattr(module, old) for old in ("STAGE", "NEEDS", "FINETUNE_LORA"))
