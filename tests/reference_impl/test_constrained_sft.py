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
