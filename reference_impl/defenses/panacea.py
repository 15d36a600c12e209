"""Panacea: learn, during the user's fine-tuning, a perturbation that raises the harmful loss, and add it at the end.

Paper
-----
Wang, Huang, Shen, Yao, Luo, Liu, Tan, Huang, Tao. *Panacea: Mitigating Harmful Fine-tuning for Large Language
Models via Post-fine-tuning Perturbation* (NeurIPS 2025). Knowledge-base record ``panacea-2025``, arXiv
2501.18100. Official code: w-yibo/Panacea (``trainer.py`` class ``Panacea``, ``train.py`` ``add_eps``).

Stage: the perturbation is optimised **during fine-tuning** (this module's ``Trainer`` replaces SFT
fine-tuning, so ``METHOD.stage`` is ``fine_tuning``) and applied **after** it; the taxonomy files the defense
under post-fine-tuning (paper record and registry). Needs: a harmful set held by the provider (1000 BeaverTails
unsafe rows upstream) and control of the user's fine-tuning job.

Algorithm
---------
With f the user's fine-tuning loss and h the loss on the provider's harmful data, Panacea solves

    (P1)  min_w  f(w) - lambda * ( h(w + eps) - h(w) ),    eps = rho * grad h(w) / ||grad h(w)||

(fit the task while making the post-fine-tuning perturbation eps raise the harmful loss as much as possible),
with eps treated as a constant in the gradient (first order, like Booster):

    (P2)  g(w) = grad f(w) - lambda * ( grad h(w + eps) - grad h(w) )

Each optimisation step (official trainer):

1. Forward/backward f on the user's batch: g_f = grad f(w).
2. Draw a harmful batch (its own shuffled, endless loader; batch size 10); forward/backward h: g_h = grad h(w).
3. eps = rho * g_h / (||g_h|| + 1e-7) (one L2 norm over all trainable parameters: the harmful-loss *ascent*
   direction). Move the weights to w + eps.
4. Forward/backward min(h(w + eps), 5) on the same harmful batch (the harmful loss is clamped at 5, so a
   harmful loss that is already high stops pushing): g_h' = grad h(w + eps). Restore w.
5. The gradient handed to AdamW is g_f - lambda * (g_h' - g_h) (P2).
6. After the last step: w_final = w + eps_last, the eps of the final step (``train.py``: ``add_eps``).

Cost: 3 forward/backward passes per step (about 3x SFT) plus two gradient buffers and eps, on every fine-tune.

Deviations
----------
* Upstream's code does not run as published (read in the official repository): ``train.py`` builds ``Pancacea`` (a typo
  for ``Panacea``) and ``trainer.py`` backpropagates an undefined ``clip_loss_h``; the intent, the clamped loss
  of step 4, is what we backpropagate.
* The weights are restored from a stored copy, not by subtracting eps again (not exact in bf16), and gradients
  already accumulated in earlier micro-batches of the same optimizer step are kept (upstream zeroes them; its
  scripts use accumulation 1).
* Upstream returns h(w + eps) as the step's loss (so its logs show the harmful loss); we log the fine-tuning
  loss f(w), like every other trainer here, and keep the three losses in ``last_losses``.
* The harmful batch size (10, inherited from Booster's trainer upstream) is the config field
  ``harmful_batch_size``.
* Protocol, not a deviation: the official script continues the SFT alignment LoRA (``--alternating
  single_lora``), so ``METHOD.finetune_lora`` is ``continue`` (config ``finetune.lora_mode: auto``); eps lives
  on that LoRA's parameters.

Usage
-----
Command line (the run needs a harmful set for the defender)::

    python -m reference_impl run config.yaml --method panacea --set method_config.lam=0.001 --set method_config.rho=1

Python::

    from reference_impl.defenses import panacea
    trainer = panacea.Trainer(model=model, args=training_args, train_dataset=user_rows,
                              extra_datasets={"harmful": harmful_rows}, defense_config=panacea.Config())
    trainer.train()  # the model now holds w + eps

The paper's fine-tuning settings (official ``script/finetune/panacea_gsm8k.sh``): GSM8K, n = 1000, p = 0.1,
lr 2e-5, 20 epochs, batch size 10, constant schedule, warm-up 0.1, weight decay 0.1, LoRA r = 32, alpha = 4
on q,k,v continued from the SFT alignment LoRA, 1000 harmful rows, max length 256, bf16, seed 43.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from reference_impl.common.method import MethodSpec
from reference_impl.common.needs import require

#: Added to the harmful gradient's norm before dividing (official trainer).
NORM_FLOOR = 1e-7


@dataclass(frozen=True)
class Config:
    """Panacea's own hyper-parameters (the training ones live in the run configuration)."""

    lam: float = field(
        default=0.001,
        metadata={
            "help": "lambda: weight of the perturbation term -(h(w + eps) - h(w)).",
            "source": "official script/finetune/panacea_gsm8k.sh (lamb=0.001)",
        },
    )
    rho: float = field(
        default=1.0,
        metadata={
            "help": "rho: the norm of the perturbation eps (one L2 norm over all trainable parameters).",
            "source": "official script/finetune/panacea_gsm8k.sh (eps_rho=1)",
        },
    )
    harmful_batch_size: int = field(
        default=10,
        metadata={
            "help": "Batch size of the harmful batches.",
            "source": "official trainer.py (Booster's harmful dataloader, batch_size=10, which Panacea inherits)",
        },
    )
    harmful_loss_clamp: float = field(
        default=5.0,
        metadata={
            "help": "The harmful loss at w + eps is clamped at this value before its backward pass (step 4).",
            "source": "official trainer.py (torch.clamp(loss_h, max=5))",
        },
    )


def check_config(config: Config, context: object = None) -> None:
    """Reject a configuration Panacea cannot run with, before any training."""
    for name in ("lam", "rho", "harmful_loss_clamp"):
        value = getattr(config, name)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(f"panacea: {name} must be a number, got {value!r}")
    if config.lam < 0:
        raise ValueError(f"panacea: lam must be >= 0 (the perturbation term's weight), got {config.lam}")
    if not config.rho > 0:
        raise ValueError(f"panacea: rho must be > 0 (the perturbation's norm), got {config.rho}")
    if not config.harmful_loss_clamp > 0:
        raise ValueError(f"panacea: harmful_loss_clamp must be > 0, got {config.harmful_loss_clamp}")
    if isinstance(config.harmful_batch_size, bool) or not isinstance(config.harmful_batch_size, int) \
            or config.harmful_batch_size < 1:
        raise ValueError(f"panacea: harmful_batch_size must be a positive integer, got {config.harmful_batch_size!r}")
    require(context, "harmful_data",
             "panacea: needs a harmful dataset for the defender (harmful prompt -> harmful answer); "
             "set the run's defender harmful data (data.defender_harmful)")


METHOD = MethodSpec(
    overhead=3.4,
    stage="fine_tuning",
    config=Config,
    needs=("harmful_data",),
    check=check_config,
    trainer="Trainer",
    finetune_lora="continue",
)


# ==========================================================================================================
# DEFENSE LOGIC
# ==========================================================================================================

import torch  # noqa: E402  (below the banner: the part above reads without torch)

from reference_impl.common.harness import HFTTrainer  # noqa: E402
from reference_impl.common.gradients import global_norm, take_grads  # noqa: E402


def panacea_gradients(
    params: Sequence[torch.Tensor],
    finetune_pass: Callable[[], torch.Tensor],
    harmful_pass: Callable[[float | None], torch.Tensor],
    lam: float,
    rho: float,
    clamp: float | None = 5.0,
) -> tuple[dict[str, float], list[torch.Tensor]]:
    """One Panacea step's gradients (steps 1-5); returns (the three losses, eps).

    Afterwards each parameter's ``.grad`` holds what it held before plus g_f - lam * (g_h(w + eps) - g_h(w)),
    and the weights are bit-for-bit what they were. ``finetune_pass()`` runs one forward and backward pass of f;
    ``harmful_pass(clamp)`` one of h on a fixed batch, its loss clamped at ``clamp`` (None: not clamped); both
    add to ``.grad`` and return the detached loss. ``harmful_pass`` runs twice on the same batch.
    """
    set_aside = [p.grad for p in params]
    for p in params:
        p.grad = None

    loss_f = finetune_pass()  # step 1
    grad_f = take_grads(params)
    loss_h = harmful_pass(None)  # step 2
    grad_h = take_grads(params)

    # Step 3: eps along the harmful ascent direction; step 4 at w + eps, then copy the stored weights back.
    step_scale = rho / (global_norm(grad_h) + NORM_FLOOR)
    eps = [(step_scale * g.float()).to(p.dtype) for p, g in zip(params, grad_h)]
    stored = [p.detach().clone() for p in params]
    try:
        with torch.no_grad():
            for p, e in zip(params, eps):
                p.add_(e)
        loss_h_moved = harmful_pass(clamp)
        grad_h_moved = take_grads(params)
    finally:
        with torch.no_grad():
            for p, original in zip(params, stored):
                p.copy_(original)

    # Step 5: (P2), plus what earlier micro-batches left.
    with torch.no_grad():
        for p, g_f, g_h, g_h_moved, earlier in zip(params, grad_f, grad_h, grad_h_moved, set_aside):
            p.grad = g_f - lam * (g_h_moved - g_h)
            if earlier is not None:
                p.grad.add_(earlier)
    losses = {"finetune_loss": float(loss_f), "harmful_loss": float(loss_h), "harmful_loss_perturbed": float(loss_h_moved)}
    return losses, eps


def add_perturbation(params: Sequence[torch.Tensor], eps: Sequence[torch.Tensor]) -> None:
    """Step 6: w <- w + eps (in place)."""
    with torch.no_grad():
        for p, e in zip(params, eps, strict=True):
            p.add_(e.to(dtype=p.dtype, device=p.device))


class Trainer(HFTTrainer):
    """Fine-tuning with Panacea (steps 1-5 every step; step 6 when ``train()`` returns).

    Needs ``extra_datasets={"harmful": rows}``. After ``train()`` the model holds w + eps; ``epsilon`` keeps eps.
    """

    config_class, config_check = Config, check_config
    required_extra = {"harmful": "harmful prompt -> harmful answer"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.last_losses: dict[str, float] = {}
        self.epsilon: list[torch.Tensor] | None = None  # eps of the last step (step 6 adds it)

    def defense_step(self, model, inputs):
        config = self.defense_config
        harmful_batch = self.next_extra_batch("harmful", config.harmful_batch_size)

        def harmful_pass(clamp):
            if clamp is None:
                return self.forward_backward(model, harmful_batch)
            return self.forward_backward(
                model, harmful_batch, loss_fn=lambda m, b: torch.clamp(self.lm_loss(m, b), max=clamp))

        self.last_losses, eps = panacea_gradients(
            self.trainable_parameters(model),
            finetune_pass=lambda: self.forward_backward(model, inputs),
            harmful_pass=harmful_pass,
            lam=config.lam,
            rho=config.rho,
            clamp=config.harmful_loss_clamp,
        )
        self.epsilon = [e.detach().clone() for e in eps]
        return torch.tensor(self.last_losses["finetune_loss"])

    def train(self, *args, **kwargs):
        result = super().train(*args, **kwargs)
        if self.epsilon is None:
            raise ValueError("panacea: training ran no step, so there is no perturbation to add")
        add_perturbation(self.trainable_parameters(self.model), self.epsilon)  # step 6
        return result
