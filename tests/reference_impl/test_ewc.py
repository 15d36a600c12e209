"""EWC's own math (the Vaccine repository's FITrainer): the Fisher is the squared gradient on the alignment data summed over its batches
(as the official FITrainer), and the penalty lambda * sum F (w - w0)^2 uses it."""

import pytest
import torch

from model_helpers import nonzero_lora
from reference_impl.common.harness import training_arguments
from reference_impl.common.templates import Collator
from reference_impl.defenses import ewc


def make(model, tokenizer, tokenized, tmp_path, config, **extra):
    args = training_arguments(tmp_path, per_device_train_batch_size=4, max_steps=2, learning_rate=5e-2, use_cpu=True)
    return ewc.Trainer(model=model, args=args, train_dataset=tokenized["harmful"],
                       data_collator=Collator(tokenizer.pad_token_id), processing_class=tokenizer,
                       defense_config=config, **extra)


def test_fisher_is_the_summed_squared_alignment_gradient_and_the_penalty_uses_it(tiny_model, tiny_tokenizer, tokenized, tmp_path):
    model = nonzero_lora(tiny_model)
    trainer = make(model, tiny_tokenizer, tokenized, tmp_path, ewc.Config(lam=1e3),
                   extra_datasets={"alignment": tokenized["alignment"]})
    start = [p.detach().clone() for p in trainer.trainable_parameters(model)]
    trainer.prepare_fisher(model)

    # Independent, as the official FITrainer (Vaccine trainer.py L325-337): batches of 4 alignment rows in order,
    # squared gradients by autograd, summed (not averaged).
    collate = Collator(tiny_tokenizer.pad_token_id)
    rows = tokenized["alignment"]
    params = [p for p in model.parameters() if p.requires_grad]
    want = [torch.zeros_like(p) for p in params]
    batches = [collate(rows[i : i + 4]) for i in range(0, len(rows), 4)]
    for batch in batches:
        grads = torch.autograd.grad(model(**batch).loss, params)
        want = [w + g.pow(2) for w, g in zip(want, grads)]
    assert len(batches) > 1  # a mean would differ from the sum by this factor
    for got, w in zip(trainer.fisher, want):
        assert torch.allclose(got, w, rtol=1e-4, atol=1e-10)
    assert any(f.sum() > 0 for f in trainer.fisher)

    trainer.train()
    moved = trainer.trainable_parameters(model)
    penalty = 1e3 * sum((f * (p.detach() - s).pow(2)).sum() for f, p, s in zip(want, moved, start))
    batch = collate(tokenized["harmful"][:3])
    trainer._loss(model, batch)
    assert penalty > 0 and trainer.last_losses["penalty"] == pytest.approx(penalty.item(), rel=1e-3)


def test_fisher_batches_caps_the_pass(tiny_model, tiny_tokenizer, tokenized, tmp_path):
    model = nonzero_lora(tiny_model)
    trainer = make(model, tiny_tokenizer, tokenized, tmp_path, ewc.Config(fisher_batches=1),
                   extra_datasets={"alignment": tokenized["alignment"]})
    assert len(list(trainer.alignment_batches())) == 1


def test_without_alignment_data_it_says_so(tiny_model, tiny_tokenizer, tokenized, tmp_path):
    with pytest.raises(ValueError, match="needs extra_datasets"):
        make(nonzero_lora(tiny_model), tiny_tokenizer, tokenized, tmp_path, ewc.Config())
    with pytest.raises(ValueError, match="needs the alignment data"):
        ewc.check_config(ewc.Config(), {"alignment_data": []})


@pytest.mark.parametrize("changes, message", [({"lam": -1.0}, "lam must be"), ({"fisher_batches": -1}, "fisher_batches")])
def test_bad_values_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        ewc.check_config(ewc.Config(**changes))
