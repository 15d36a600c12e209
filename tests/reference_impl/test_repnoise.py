"""RepNoise's own math (arXiv 2405.14577; site/reference/protocol.md, 'Implementation notes') against hand computations on tiny inputs and a tiny Llama."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reference_impl.common.harness import training_arguments
from reference_impl.common.models import LoraSettings, add_lora
from reference_impl.common.templates import Collator
from reference_impl.defenses import repnoise


def mmd_by_hand(x: np.ndarray, y: np.ndarray) -> float:
    """The multi-kernel MMD written out with loops, in float64 (an independent computation)."""
    z = np.concatenate([x, y]).astype(np.float64)
    n2 = len(z)
    d = np.array([[((z[i] - z[j]) ** 2).sum() for j in range(n2)] for i in range(n2)])
    b = d.sum() / (n2 * n2 - n2) / 4.0
    k = sum(np.exp(-d / (b * 2.0**i)) for i in range(5))
    n = len(x)
    return float((k[:n, :n] + k[n:, n:] - k[:n, n:] - k[n:, :n]).mean())


def test_mmd_equals_the_hand_computation_and_vanishes_on_identical_samples():
    x = np.array([[0.0, 1.0], [2.0, 0.5], [1.0, -1.0]])
    y = np.array([[0.3, 0.0], [-1.0, 2.0], [0.0, 0.0]])
    got = repnoise.mmd(torch.tensor(x), torch.tensor(y)).item()
    assert got == pytest.approx(mmd_by_hand(x, y), rel=1e-5)
    assert got > 0
    assert repnoise.mmd(torch.tensor(x), torch.tensor(x)).item() == pytest.approx(0.0, abs=1e-6)
    zeros = torch.zeros(3, 4)
    assert math.isfinite(repnoise.mmd(zeros, zeros).item())  # all-masked rows: finite, not NaN


@pytest.fixture
def model_and_batches(tiny_model, tiny_tokenizer, tokenized):
    collate = Collator(tiny_tokenizer.pad_token_id)
    return tiny_model, collate(tokenized["alignment"][:3]), collate(tokenized["harmful"][:3])


def test_loss_equals_ce_safe_plus_beta_mmd_minus_alpha_log_ce_harm(model_and_batches):
    model, harmless, harmful = model_and_batches
    config = repnoise.Config(alpha=0.7, beta=0.3)
    layers = model.model.layers
    shape = (harmful["input_ids"].shape[0], harmful["input_ids"].shape[1], model.config.hidden_size)
    noise = [torch.randn(shape, generator=torch.Generator().manual_seed(i)) for i in range(len(layers))]
    loss, parts = repnoise.repnoise_loss(model, harmless, harmful, config, noise=noise)

    # Independent computation: hooks on model.model.layers[i].mlp, the logit lens written out, MMD by hand.
    with torch.no_grad():
        ce_safe = model(**harmless).loss.item()
        captured = []
        hooks = [layer.mlp.register_forward_hook(lambda m, a, out: captured.append(out)) for layer in layers]
        out = model(input_ids=harmful["input_ids"], attention_mask=harmful["attention_mask"], output_hidden_states=True)
        for h in hooks:
            h.remove()
        labels = harmful["labels"][:, 1:].reshape(-1)
        heads = [out.logits] + [model.lm_head(model.model.norm(h)) for h in out.hidden_states[:-1]]
        assert len(heads) == len(layers) + 1
        ce_harm = np.mean([F.cross_entropy(h[:, :-1].reshape(-1, h.shape[-1]), labels, ignore_index=-100).item()
                           for h in heads])
        mask = (harmful["labels"] != -100).unsqueeze(-1).float()
        mmds = [mmd_by_hand((a * mask).flatten(1).numpy(), (z * mask).flatten(1).numpy()) for a, z in zip(captured, noise)]
    want = ce_safe + 0.3 * np.mean(mmds) - 0.7 * math.log(ce_harm + 1)
    assert loss.item() == pytest.approx(want, rel=1e-4)
    assert parts["harmful_ce"] == pytest.approx(ce_harm, rel=1e-5)


def test_trainer_descends_the_combined_loss_on_lora_weights_only(tiny_model, tiny_tokenizer, tokenized, tmp_path):
    model = add_lora(tiny_model, LoraSettings(r=4, alpha=8, dropout=0.0))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    args = training_arguments(tmp_path, per_device_train_batch_size=4, max_steps=2, learning_rate=1e-2, use_cpu=True)
    trainer = repnoise.Trainer(model=model, args=args, train_dataset=tokenized["alignment"],
                               data_collator=Collator(tiny_tokenizer.pad_token_id), processing_class=tiny_tokenizer,
                               extra_datasets={"harmful": tokenized["harmful"]}, defense_config=repnoise.Config())
    trainer.train()
    assert set(trainer.last_losses) == {"harmless_ce", "harmful_ce", "noise_mmd"}
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n for n in changed)


def test_trainer_without_harmful_data_says_so(tiny_model, tiny_tokenizer, tokenized, tmp_path):
    args = training_arguments(tmp_path, max_steps=1, use_cpu=True)
    with pytest.raises(ValueError, match="harmful"):
        repnoise.Trainer(model=tiny_model, args=args, train_dataset=tokenized["alignment"])


@pytest.mark.parametrize("changes, message", [({"beta": 0.0}, "beta must be a number > 0"), ({"alpha": -1.0}, "alpha"),
                                              ({"harmful_batch_size": 1}, "harmful_batch_size")])
def test_bad_values_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        repnoise.check_config(repnoise.Config(**changes))


def test_defaults_are_the_official_repositorys():
    import dataclasses

    assert (repnoise.Config().alpha, repnoise.Config().beta) == (1.0, 0.001)
    for f in dataclasses.fields(repnoise.Config):
        assert f.metadata["help"] and f.metadata["source"]
