"""Booster: attenuating the harmful perturbation during alignment.

Paper
-----
Huang, Hu, Ilhan, Tekin, Liu. *Booster: Tackling Harmful Fine-tuning for Large Language Models via Attenuating
Harmful Perturbation* (ICLR 2025). Knowledge-base record ``booster-2024``, arXiv 2409.01586. Official code:
git-disl/Booster (``trainer.py``, class ``BoosterAlignmentTrainer``).

Stage: **alignment**. Needs: the alignment set (harmful prompt -> refusal) **and a harmful set** (harmful
prompt -> harmful answer) held by the provider. Nothing at fine-tuning time.

Algorithm
---------
Booster adds to the alignment loss f a regulariser that measures how much one normalised step along the
harmful gradient would lower the harmful loss h (the paper's problem formulation; labels here are this
docstring's own):

    (B1)  min_w  f(w) + lambda * ( h(w) - h(w - alpha * grad h(w) / ||grad h(w)||) )

and minimises it with a first-order update that treats the normalised harmful direction as a constant (the
paper's Algorithm 1; the same first-order simplification as first-order MAML):

    (B2)  g(w) = grad f(w) + lambda * ( grad h(w) - grad h(w - alpha * grad h(w) / ||grad h(w)||) )

Each optimisation step (official trainer):

1. Draw a harmful batch (its own shuffled, endless loader; batch size 10).
2. Forward/backward h on it: g_h = grad h(w), over the trainable (LoRA) parameters.
3. Move the weights to w - alpha * g_h / (||g_h|| + 1e-7) (||.|| = one L2 norm over all trainable parameters);
   forward/backward h on the **same** harmful batch: g_h' = grad h(w - alpha * g_h / ||g_h||). Restore w.
4. Forward/backward f on the alignment batch: grad f(w).
5. The gradient handed to the optimizer is grad f + lambda * (g_h - g_h') (B2); AdamW steps.

Cost: 3 forward/backward passes per step (about 3x SFT) plus two gradient buffers of the trainable parameters,
once, at alignment time.

Caveat (a property of (B1)): the regulariser is the loss decrease one normalised harmful step can still achieve,
and that is smallest where h is already at its minimum. When the model starts out fitting the defender's harmful
answers (h(w) close to 0), the regulariser holds it there and works against the alignment loss. The miniature
world's base model was pre-trained on exactly those answers, so there the paper's lambda keeps the model from
aligning at all and lambda must be scaled far down before alignment happens; with the paper's data the harmful
answers are not the base model's own, and h starts far from its minimum. The measured lambda ablation is in
``reference_impl/results/miniature_world_ablation.json`` and on Booster's page of the site
(``python -m reference_impl.experiments.miniature_world --ablation``).

Deviations
----------
* The weights are restored by copying back a stored copy, not by adding the step back (the official code
  subtracts and re-adds, which in bf16 does not give the same weights back).
* The official trainer zeroes all parameter gradients between its passes, which under gradient accumulation
  wipes the earlier micro-batches of the same optimizer step (its scripts use accumulation 1). Here the
  gradients already accumulated are set aside and put back, so accumulation works.
* The harmful batch size, hard-coded to 10 in the official trainer, is the config field
  ``harmful_batch_size`` (default 10).
* The official ``perturb_aware`` option (replace step 4 by Vaccine's two-pass gradient; off by default in
  the paper's runs) is not implemented.
* Not a deviation, a protocol detail: after Booster the official scripts keep training the *same* alignment
  LoRA during the user's fine-tuning (``--alternating single_lora``) instead of merging it and adding a new
  one. ``METHOD``'s ``finetune_lora="continue"`` asks the pipeline for that (config ``finetune.lora_mode: auto``).

Usage
-----
Command line (the run needs a harmful set for the defender, disjoint from the user's harmful rows)::

    python -m reference_impl run config.yaml --method booster --set method_config.lam=5 --set method_config.alpha=0.1

Python::

    from reference_impl.defenses import booster
    trainer = booster.Trainer(model=model, args=training_args, train_dataset=alignment_set,
                              extra_datasets={"harmful": harmful_set}, defense_config=booster.Config())
    trainer.train()

The paper's training settings for the alignment stage (official ``script/alignment/smooth_align.sh``): 5000
alignment + 5000 harmful rows with paired prompts, lr 5e-4, 20 epochs, batch size 10, constant schedule, weight
decay 0.1, LoRA r=32, alpha=4 on q,k,v, max length 256, bf16, seed 43.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from reference_impl.common.method import MethodSpec
from reference_impl.common.needs import require

#: Added to the harmful gradient's norm before dividing (official trainer).
NORM_FLOOR = 1e-7


# `duplicates` pairs the field(default=..., metadata={help, source}) declarations below with the other defenses'
# Configs: same shape, different data (each field's paper default and its source); there is no logic to share.
@dataclass(frozen=True)
class Config:
    """Booster's own hyper-parameters (the training ones live in the run configuration)."""

    lam: float = field(
        default=5.0,
        metadata={
            "help": "lambda: weight of the harmful-perturbation regulariser h(w) - h(w - alpha * grad h / |grad h|).",
            "source": "official script/alignment/smooth_align.sh (lambda=5); same default in TamperBench's Booster config",
        },
    )
    alpha: float = field(
        default=0.1,
        metadata={
            "help": "Step size of the simulated harmful step (the norm of the weight move, in parameter space).",
            "source": "official script/alignment/smooth_align.sh (alpha=0.1); same default in TamperBench's Booster config",
        },
    )
    harmful_batch_size: int = field(
        default=10,
        metadata={
            "help": "Batch size of the harmful batches drawn for the regulariser.",
            "source": "official trainer.py (hard-coded batch_size=10 in the harmful dataloader)",
        },
    )


def check_config(config: Config, context: object = None) -> None:
    """Reject a configuration Booster cannot run with, before any training."""
    for name in ("lam", "alpha"):
        value = getattr(config, name)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(f"booster: {name} must be a number, got {value!r}")
    if config.lam < 0:
        raise ValueError(f"booster: lam must be >= 0 (the regulariser's weight), got {config.lam}")
    if not config.alpha > 0:
        raise ValueError(f"booster: alpha must be > 0 (the simulated harmful step size), got {config.alpha}")
    if isinstance(config.harmful_batch_size, bool) or not isinstance(config.harmful_batch_size, int) \
            or config.harmful_batch_size < 1:
        raise ValueError(f"booster: harmful_batch_size must be a positive integer, got {config.harmful_batch_size!r}")
    require(context, "alignment_data", "booster: needs an alignment dataset (harmful prompt -> refusal)")
    require(context, "harmful_data",
             "booster: needs a harmful dataset for the defender (harmful prompt -> harmful answer); "
             "set the alignment stage's harmful data in the run configuration")


#: finetune_lora="continue": the user's fine-tuning continues the alignment LoRA (official ``--alternating single_lora``).
METHOD = MethodSpec(stage="alignment", config=Config, needs=("alignment_data", "harmful_data"), check=check_config,
                    trainer="Trainer", finetune_lora="continue", overhead=3.4)


# ==========================================================================================================
# DEFENSE LOGIC
# ==========================================================================================================

import torch  # noqa: E402  (below the banner: the part above reads without torch)

from reference_impl.common.gradients import global_norm, take_grads  # noqa: E402,F401
from reference_impl.common.harness import HFTTrainer  # noqa: E402


def booster_gradients(
    params: Sequence[torch.Tensor],
    alignment_pass: Callable[[], torch.Tensor],
    harmful_pass: Callable[[], torch.Tensor],
    lam: float,
    alpha: float,
) -> dict[str, float]:
    """One Booster step's gradients (steps 2-5).

    Afterwards each parameter's ``.grad`` holds what it held before plus
    grad f + lam * (grad h(w) - grad h(w - alpha * grad h / ||grad h||)), and the weights are bit-for-bit
    what they were. ``alignment_pass()`` and ``harmful_pass()`` each run one forward and backward pass of f and
    h on a fixed batch (gradients added to ``.grad``) and return the detached loss; ``harmful_pass`` runs twice
    and must use the same batch both times. Returns the three losses, for logging.
    """
    set_aside = [p.grad for p in params]
    for p in params:
        p.grad = None

    # Step 2: g_h = grad h(w).
    loss_h = harmful_pass()
    grad_h = take_grads(params)

    # Step 3: grad h at the weights moved one normalised harmful step; then copy the stored weights back.
    step_scale = alpha / (global_norm(grad_h) + NORM_FLOOR)
    stored = [p.detach().clone() for p in params]
    try:
        with torch.no_grad():
            for p, g in zip(params, grad_h):
                p.sub_((step_scale * g.float()).to(p.dtype))
        loss_h_moved = harmful_pass()
        grad_h_moved = take_grads(params)
    finally:
        with torch.no_grad():
            for p, original in zip(params, stored):
                p.copy_(original)

    # Steps 4-5: grad f(w), plus the regulariser's gradient (B2), plus what earlier micro-batches left.
    loss_f = alignment_pass()
    with torch.no_grad():
        for p, g_h, g_h_moved, earlier in zip(params, grad_h, grad_h_moved, set_aside):
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            p.grad.add_(lam * (g_h - g_h_moved))
            if earlier is not None:
                p.grad.add_(earlier)
    return {
        "alignment_loss": float(loss_f),
        "harmful_loss": float(loss_h),
        "harmful_loss_after_step": float(loss_h_moved),
    }


class Trainer(HFTTrainer):
    """Alignment with Booster: alignment gradient plus the harmful-perturbation regulariser's (steps 1-5).

    Needs ``extra_datasets={"harmful": rows}``.
    """

    config_class, config_check = Config, check_config
    required_extra = {"harmful": "harmful prompt -> harmful answer"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.last_losses: dict[str, float] = {}

    def defense_step(self, model, inputs):
        config = self.defense_config
        harmful_batch = self.next_extra_batch("harmful", config.harmful_batch_size)  # step 1
        self.last_losses = booster_gradients(
            self.trainable_parameters(model),
            alignment_pass=lambda: self.forward_backward(model, inputs),
            harmful_pass=lambda: self.forward_backward(model, harmful_batch),
            lam=config.lam,
            alpha=config.alpha,
        )
        return torch.tensor(self.last_losses["alignment_loss"])
