"""The token-wise constrained objective of Qi et al. (ICLR 2025, Eqn 3 and Appendix D.2): each answer token's loss is
weighted by 2 * (1 - sigmoid(beta_t * (log pi - log pi_aligned))), with beta_t = 0.5 / 2 / 0.1 by position."""

import pytest
import torch
import torch.nn.functional as F

from reference_impl.defenses import constrained_sft as cs


def test_beta_schedule_is_the_papers_by_answer_position():
    assert cs.beta_schedule(8, cs.Config()).tolist() == pytest.approx([0.5, 2, 2, 2, 2, 0.1, 0.1, 0.1])
    labels = torch.tensor([[-100, -100, 5, 6, 7, 8, 9, 10, 11], [-100, 4, 4, -100, -100, -100, -100, -100, -100]])
    betas = cs.answer_betas(labels[:, 1:] != -100, cs.Config())
    assert betas[0].tolist() == pytest.approx([0, 0.5, 2, 2, 2, 2, 0.1, 0.1])
    assert betas[1].tolist() == pytest.approx([0.5, 2, 0, 0, 0, 0, 0, 0])


def test_gradient_equals_the_gradient_of_the_papers_objective():
    generator = torch.Generator().manual_seed(0)
    policy = torch.randn(2, 8, 11, generator=generator, requires_grad=True)
    reference = torch.randn(2, 8, 11, generator=generator)
    labels = torch.tensor([[-100, -100, 1, 2, 3, 4, 5, 6], [-100, 7, 8, 9, -100, -100, -100, -100]])
    config = cs.Config(min_weight=0.0)
    loss, _ = cs.constrained_loss(policy, reference, labels, config)
    (got,) = torch.autograd.grad(loss, policy)

    # Independent: sum_t (2/beta_t) softplus(-beta_t * Delta_t) / N written out position by position.
    objective, count = 0.0, 0
    for b in range(2):
        t = 0
        for pos in range(7):
            y = labels[b, pos + 1]
            if y == -100:
                continue
            t += 1
            beta = 0.5 if t == 1 else (2.0 if t <= 5 else 0.1)
            delta = F.log_softmax(policy[b, pos], -1)[y] - F.log_softmax(reference[b, pos], -1)[y]
            objective = objective + (2 / beta) * F.softplus(-beta * delta)
            count += 1
    (want,) = torch.autograd.grad(objective / count, policy)
    assert torch.allclose(got, want, atol=1e-6)


def test_at_the_aligned_model_it_is_plain_sft():
    logits = torch.randn(1, 6, 9, generator=torch.Generator().manual_seed(1), requires_grad=True)
    labels = torch.tensor([[-100, -100, 3, 4, 5, 6]])
    loss, weights = cs.constrained_loss(logits, logits.detach(), labels, cs.Config())
    assert torch.allclose(weights[labels[:, 1:] != -100], torch.ones(4))
    ce = F.cross_entropy(logits[0, :-1], labels[0, 1:], ignore_index=-100)
    assert loss.item() == pytest.approx(ce.item(), rel=1e-5)


@pytest.mark.parametrize("changes, message", [({"beta": 0.0}, "beta must be"), ({"bias_length": -1}, "bias_length")])
def test_bad_values_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        cs.check_config(cs.Config(**changes))


def test_the_trainer_precomputes_the_aligned_log_probs_once_and_they_match_a_reference_forward(
        tiny_model, tiny_tokenizer, tokenized, tmp_path):
    import copy

    from reference_impl.common.harness import training_arguments
    from reference_impl.common.models import LoraSettings, add_lora
    from reference_impl.common.templates import Collator

    model = add_lora(tiny_model, LoraSettings(r=4, alpha=8, dropout=0.0))
    aligned = copy.deepcopy(model)
    args = training_arguments(tmp_path, per_device_train_batch_size=4, max_steps=3, learning_rate=5e-2, use_cpu=True)
    trainer = cs.Trainer(model=model, args=args, train_dataset=tokenized["harmful"],
                         data_collator=Collator(tiny_tokenizer.pad_token_id), processing_class=tiny_tokenizer)
    trainer.train()
    assert len(trainer.cache) == len({tuple(r["input_ids"]) for r in tokenized["harmful"]})
    batch = Collator(tiny_tokenizer.pad_token_id)(tokenized["harmful"][:3])
    cached = trainer.cached_reference(batch)
    with torch.no_grad():
        want, mask = cs.token_log_probs(aligned(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits,
                                        batch["labels"])
    assert torch.allclose(cached[mask], want[mask], atol=1e-5)
    # The loss with the cache equals the loss with a fresh reference forward (the model has moved: weights != 1).
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        ref_logits = aligned(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    from_cache, weights = cs.constrained_loss(logits, None, batch["labels"], cs.Config(), cached)
    from_forward, _ = cs.constrained_loss(logits, ref_logits, batch["labels"], cs.Config())
    assert from_cache.item() == pytest.approx(from_forward.item(), rel=1e-5)
    assert not torch.allclose(weights[mask], torch.ones_like(weights[mask]))


def test_the_optimizer_is_adamw_with_the_official_beta1_of_one_half(tiny_model, tiny_tokenizer, tokenized, tmp_path):
    """Three trainer steps equal three hand-written AdamW steps with betas (0.5, 0.999), as the official finetune.py
    (L111-118) sets for fine-tuning attacks; beta1 = 0.9 would give other weights from the second step on."""
    import copy

    from reference_impl.common.harness import training_arguments
    from reference_impl.common.models import LoraSettings, add_lora
    from reference_impl.common.templates import Collator

    model = add_lora(tiny_model, LoraSettings(r=4, alpha=8, dropout=0.0))
    aligned, manual = copy.deepcopy(model), copy.deepcopy(model)
    rows = tokenized["harmful"][:4]  # one batch: every step sees the same rows
    args = training_arguments(tmp_path, per_device_train_batch_size=4, max_steps=3, learning_rate=5e-2, use_cpu=True,
                              lr_scheduler_type="constant", max_grad_norm=0.0, weight_decay=0.0)
    trainer = cs.Trainer(model=model, args=args, train_dataset=rows,
                         data_collator=Collator(tiny_tokenizer.pad_token_id), processing_class=tiny_tokenizer)
    trainer.train()
    assert trainer.optimizer.param_groups[0]["betas"] == (0.5, 0.999)

    batch = Collator(tiny_tokenizer.pad_token_id)(rows)
    params = [p for p in manual.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=5e-2, betas=(0.5, 0.999), eps=1e-8, weight_decay=0.0)
    with torch.no_grad():
        reference_logits = aligned(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    for _ in range(3):
        optimizer.zero_grad()
        logits = manual(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        cs.constrained_loss(logits, reference_logits, batch["labels"], cs.Config())[0].backward()
        optimizer.step()
    got = [p for p in model.parameters() if p.requires_grad]
    assert any(not torch.allclose(p, a) for p, a in zip(got, [q for q in aligned.parameters() if q.requires_grad]))
    gap = max((p - want).abs().max().item() for p, want in zip(got, params))
    assert gap < 1e-4
