"""TAR's own math (arXiv 2408.00761; site/reference/protocol.md, 'Implementation notes'): the outer gradient is the retain gradient plus the weighted sum of the
tamper-loss gradients at the adversary's weights, and the adversary trains a copy, never the model."""

import copy
import math

import pytest
import torch

from model_helpers import nonzero_lora
from reference_impl.common.harness import training_arguments
from reference_impl.common.templates import Collator
from reference_impl.defenses import tar


@pytest.fixture
def setup(tiny_model, tiny_tokenizer, tokenized):
    model = nonzero_lora(tiny_model)
    collate = Collator(tiny_tokenizer.pad_token_id)
    harmful = tokenized["harmful"]
    batches = [collate(harmful[i : i + 3]) for i in (0, 3, 6, 9)]
    return model, batches, collate(tokenized["alignment"][:3])


def padded(batch, n: int = 3):
    """`batch` with its first row's last `n` positions turned into right padding (mask 0, label -100)."""
    batch = {k: v.clone() for k, v in batch.items()}
    batch["attention_mask"][0, -n:] = 0
    batch["labels"][0, -n:] = -100
    return batch


def reference_tamper_gradient(model, batches, tamper_batch, lr, config):
    """Independently, in the official form: a deep copy of the model fine-tuned with torch's AdamW at its defaults
    (tamper-resistance training.py L1009); grad of s*w_k/N*L_TR at each copy, L_TR = -entropy averaged over every
    position (objectives.py max_entropy_loss; here over the non-padding ones)."""
    adversary = copy.deepcopy(model)
    params = [p for p in adversary.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr)
    assert optimizer.param_groups[0]["weight_decay"] == 0.01
    total = [torch.zeros_like(p) for p in params]
    last = len(batches) - 1
    for k, batch in enumerate(batches):
        optimizer.zero_grad()
        adversary(**batch).loss.backward()
        optimizer.step()
        if (last - k) % config.subsample == 0:
            out = adversary(input_ids=tamper_batch["input_ids"], attention_mask=tamper_batch["attention_mask"])
            softmax, log_softmax = torch.softmax(out.logits, -1), torch.log_softmax(out.logits, -1)
            real = tamper_batch["attention_mask"].bool()
            neg_entropy = -torch.sum(-softmax * log_softmax, dim=-1)[real].mean()
            weight = math.exp(config.schedule_lambda * (k - last))
            grads = torch.autograd.grad(config.tamper_scale * weight / config.adversaries * neg_entropy, params)
            total = [t + g for t, g in zip(total, grads)]
    return total


def test_tamper_gradient_is_the_weighted_sum_over_adversary_steps_and_the_model_never_moves(setup):
    model, batches, tamper_batch = setup
    tamper_batch = padded(tamper_batch)
    config = tar.Config(subsample=2, schedule_lambda=0.3, tamper_scale=2.0, adversaries=1)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    got = tar.tamper_gradients(model, names, batches, tamper_batch, lr=0.05, config=config)
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), n  # the adversary trained a copy
        assert p.grad is None
    want = reference_tamper_gradient(model, batches, tamper_batch, 0.05, config)
    assert len(got) == len(want) == len(names)
    for n, g, w in zip(names, got, want):
        assert torch.allclose(g, w, atol=1e-6, rtol=1e-4), n
    assert any(g.abs().sum() > 0 for g in got)


def test_the_steps_evaluated_end_with_the_last_one_and_weigh_exp_lambda_k_minus_last():
    weights = tar.step_weights(64, 4, 0.0625)
    assert sorted(weights) == list(range(3, 64, 4)) and len(weights) == 16
    assert weights[63] == 1.0 and weights[3] == pytest.approx(math.exp(0.0625 * (3 - 63)))
    assert tar.step_weights(1, 4, 0.0625) == {0: 1.0}


def make_trainer(model, tokenizer, tokenized, tmp_path, config):
    args = training_arguments(tmp_path, per_device_train_batch_size=3, max_steps=1, learning_rate=1e-2, use_cpu=True)
    return tar.Trainer(model=model, args=args, train_dataset=tokenized["alignment"],
                       data_collator=Collator(tokenizer.pad_token_id), processing_class=tokenizer,
                       extra_datasets={"harmful": tokenized["harmful"]}, defense_config=config)


def test_outer_gradient_is_retain_gradient_plus_tamper_gradient(setup, tiny_tokenizer, tokenized, tmp_path):
    model, _, _ = setup
    config = tar.Config(inner_steps=2, subsample=1, adversary_batch_size=3, tamper_scale=3.0)
    trainer = make_trainer(model, tiny_tokenizer, tokenized, tmp_path, config)
    drawn = []
    original = trainer.adversary
    trainer.adversary = lambda: drawn.append(original()) or drawn[-1]
    trainer.create_optimizer_and_scheduler(num_training_steps=1)
    batch = Collator(tiny_tokenizer.pad_token_id)(tokenized["alignment"][:3])
    trainer.defense_step(model, batch)
    got = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}

    (lr, batches, tamper_batch), = drawn
    names = list(got)
    tamper = dict(zip(names, reference_tamper_gradient(model, batches, tamper_batch, lr, config)))
    model.zero_grad()
    tar.retain_loss(model, batch, config, trainer.reference).backward()
    for n, p in model.named_parameters():
        if n in got:
            assert torch.allclose(got[n], p.grad + tamper[n], atol=1e-6, rtol=1e-4), n


def test_with_one_inner_step_and_no_tamper_scale_it_is_the_retain_step(setup, tiny_tokenizer, tokenized, tmp_path):
    model, _, _ = setup
    config = tar.Config(inner_steps=1, tamper_scale=0.0, adversary_batch_size=3)
    trainer = make_trainer(model, tiny_tokenizer, tokenized, tmp_path, config)
    batch = Collator(tiny_tokenizer.pad_token_id)(tokenized["alignment"][:3])
    trainer.defense_step(model, batch)
    got = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    model.zero_grad()
    tar.retain_loss(model, batch, config, trainer.reference).backward()
    for n, p in model.named_parameters():
        if n in got:
            assert torch.allclose(got[n], p.grad, atol=1e-7), n


def test_retain_loss_adds_the_representation_distance_to_the_starting_weights(setup):
    from reference_impl.common.reference import FrozenReference

    model, _, batch = setup
    reference = FrozenReference(model)
    plain = tar.retain_loss(model, batch, tar.Config(retain_representations=False)).item()
    assert tar.retain_loss(model, batch, tar.Config(), reference).item() == pytest.approx(plain, abs=1e-6)  # at the start
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.add_(0.1)
    moved_plain = tar.retain_loss(model, batch, tar.Config(retain_representations=False)).item()
    assert tar.retain_loss(model, batch, tar.Config(), reference).item() > moved_plain + 1e-4


def test_retain_loss_is_the_officials_with_every_hidden_state(setup):
    """objectives.py obj_model_mse_representations: log_p_loss + mean over ALL hidden_states (index 0 included) of
    the mean token distance (here over the non-padding tokens)."""
    from reference_impl.common.reference import FrozenReference

    model, batches, _ = setup
    batch = padded(batches[0])  # padding: the mask matters
    start = copy.deepcopy(model)
    reference = FrozenReference(model)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.add_(0.1)
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    with torch.no_grad():
        out, base = model(**inputs, output_hidden_states=True), start(**inputs, output_hidden_states=True)
        logits, labels = out.logits[:, :-1], batch["labels"][:, 1:]
        ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
        real = batch["attention_mask"].bool()
        assert len(out.hidden_states) == 3  # embeddings + 2 layers
        distance = torch.stack([torch.norm(b - h, dim=-1)[real].mean() for b, h in zip(base.hidden_states, out.hidden_states)]).mean()
        got = tar.retain_loss(model, batch, tar.Config(retain_scale=1.0), reference)
    assert distance > 0 and got.item() == pytest.approx((ce + distance).item(), rel=1e-5)


@pytest.mark.parametrize("changes, message", [({"inner_steps": 0}, "inner_steps"), ({"tamper_scale": -1}, "tamper_scale"),
                                              ({"adversary_lrs": ()}, "adversary_lrs"),
                                              ({"tamper_loss": "kl"}, "tamper_loss must be one of")])
def test_bad_values_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        tar.check_config(tar.Config(**changes))


def test_defaults_are_the_official_bio_scripts():
    import dataclasses

    c = tar.Config()
    assert (c.inner_steps, c.subsample, c.adversaries, c.tamper_scale, c.schedule_lambda) == (64, 4, 1, 4.0, 0.0625)
    for f in dataclasses.fields(tar.Config):
        assert f.metadata["help"] and f.metadata["source"]
