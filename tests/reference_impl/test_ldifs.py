"""LDIFS's own math (the paper's regulariser): (rho/2) * sum over layers of the squared MLP-feature distance to the frozen
aligned model, which never changes."""

import pytest
import torch

from reference_impl.common.harness import training_arguments
from reference_impl.common.models import LoraSettings, add_lora
from reference_impl.common.templates import Collator
from reference_impl.defenses import ldifs


def make(tiny_model, tokenizer, tokenized, tmp_path, config=ldifs.Config(), steps=2):
    model = add_lora(tiny_model, LoraSettings(r=4, alpha=8, dropout=0.0))
    args = training_arguments(tmp_path, per_device_train_batch_size=4, max_steps=steps, learning_rate=5e-2, use_cpu=True)
    trainer = ldifs.Trainer(model=model, args=args, train_dataset=tokenized["harmful"],
                            data_collator=Collator(tokenizer.pad_token_id), processing_class=tokenizer,
                            defense_config=config)
    return model, trainer


def test_penalty_is_half_rho_times_the_summed_squared_feature_distance(tiny_model, tiny_tokenizer, tokenized, tmp_path):
    import copy

    model, trainer = make(tiny_model, tiny_tokenizer, tokenized, tmp_path, ldifs.Config(rho=0.5, skip_above=1e9))
    frozen = copy.deepcopy(model)  # the independent reference: a real deep copy of the model at the start
    trainer.train()  # the model moves away from the start
    snapshot = {n: w.clone() for n, w in trainer.reference.weights.items()}
    batch = Collator(tiny_tokenizer.pad_token_id)(tokenized["harmful"][:3])
    loss = trainer._loss(model, batch)

    def features(m):
        out = []
        hooks = [layer.mlp.register_forward_hook(lambda mod, a, o: out.append(o.detach()))
                 for layer in m.base_model.model.model.layers]
        with torch.no_grad():
            m(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        for h in hooks:
            h.remove()
        return out

    now, start = features(model), features(frozen)
    want = sum(0.25 * (a - b).pow(2).sum() for a, b in zip(now, start))
    assert want > 0
    assert trainer.last_losses["penalty"] == pytest.approx(want.item(), rel=1e-4)
    with torch.no_grad():
        task = model(**batch).loss.item()
    assert loss.item() == pytest.approx(task + want.item(), rel=1e-4)
    for n, w in trainer.reference.weights.items():  # the reference never changes
        assert torch.equal(w, snapshot[n])
        assert torch.equal(w, dict(frozen.named_parameters())[n])


def test_layers_above_the_guard_are_left_out():
    a = [torch.zeros(2, 3), torch.zeros(2, 3)]
    b = [torch.full((2, 3), 0.1), torch.full((2, 3), 10.0)]
    total, skipped = ldifs.feature_penalty(a, b, rho=1.0, skip_above=0.1)
    assert skipped == 1 and total.item() == pytest.approx(0.5 * 6 * 0.01)


def test_at_the_start_the_penalty_is_zero(tiny_model, tiny_tokenizer, tokenized, tmp_path):
    model, trainer = make(tiny_model, tiny_tokenizer, tokenized, tmp_path)
    trainer._loss(model, Collator(tiny_tokenizer.pad_token_id)(tokenized["harmful"][:3]))
    assert trainer.last_losses["penalty"] == 0.0


@pytest.mark.parametrize("changes", [{"rho": 0.0}, {"rho": -1e-4}, {"skip_above": 0}])
def test_bad_values_are_refused(changes):
    with pytest.raises(ValueError, match="must be a number > 0"):
        ldifs.check_config(ldifs.Config(**changes))


@pytest.mark.parametrize("norm", [0.5, 3.0, 20.0])
def test_the_official_two_clips_are_one_clip_at_one_which_the_runs_use(norm):
    """Booster's LDIFSTrainer clips at 5 (trainer.py L874), then the HF Trainer at its default max_grad_norm 1.0:
    the same gradient as the single clip at 1.0 our runs apply (finetune.max_grad_norm)."""
    from reference_impl.cli import WORLD_CONFIG
    from reference_impl.common.config import load_config

    generator = torch.Generator().manual_seed(0)
    grads = [torch.randn(4, 3, generator=generator), torch.randn(5, generator=generator)]
    scale = norm / torch.sqrt(sum((g ** 2).sum() for g in grads))
    official = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
    ours = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
    for p, q, g in zip(official, ours, grads):
        p.grad, q.grad = g * scale, g * scale
    torch.nn.utils.clip_grad_norm_(official, 5)
    torch.nn.utils.clip_grad_norm_(official, 1.0)
    max_grad_norm = load_config(WORLD_CONFIG, ["method=ldifs"])["finetune"]["max_grad_norm"]
    assert max_grad_norm == 1.0
    torch.nn.utils.clip_grad_norm_(ours, max_grad_norm)
    for p, q in zip(official, ours):
        torch.testing.assert_close(p.grad, q.grad)
    assert min(norm, 1.0) == pytest.approx(torch.sqrt(sum((q.grad ** 2).sum() for q in ours)).item(), rel=1e-5)
