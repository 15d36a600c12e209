"""LDIFS: fine-tuning with a feature-space distance to the aligned model.

Paper
-----
Mukhoti, Gal, Torr, Dokania. *Fine-tuning can cripple your foundation model; preserving features may be the
solution* (TMLR). Knowledge-base record ``ldifs-2023``, arXiv 2308.13320. The harmful-fine-tuning version used
here is the baseline of the Booster repository (``trainer.py`` ``LDIFSTrainer``, ``script/finetune/LDIFS_*.sh``).

Stage: **fine-tuning** (the provider runs every user's job with it). Needs: the aligned model, kept frozen as
the reference.

Algorithm
---------
Each fine-tuning step on the user's batch x (the paper and the official code named above):

1. Forward x through the model and through the frozen reference (the aligned model as fine-tuning started),
   recording the output a_l of every decoder layer's MLP.
2. Penalty: P = sum over layers l of (rho/2) * ||a_l(w; x) - a_l(w_0; x)||_F^2, leaving out every layer whose term
   is >= ``skip_above`` (the Booster code's guard against one exploding layer).
3. Loss: h(w) + P, with h the user's cross-entropy; backward; the gradient norm is clipped at 1.0 (the run's
   ``finetune.max_grad_norm``, default 1.0; see Deviations); the optimizer steps.

Cost: one extra reference forward per step (2 forwards, 1 backward); the reference here is a snapshot of the
trainable weights (``common.reference``), not a second model.

Deviations
----------
* The original LDIFS (CLIP) normalises each feature to unit norm and averages; the harmful-fine-tuning port
  followed here uses raw MLP outputs and (rho/2) * squared Frobenius norms, as the Booster repository does.
* The reference is a snapshot of the trainable weights at the start of fine-tuning instead of a deep copy of the
  model: the same function, without twice the weights in memory.
* Clipping: the Booster code clips at 5 inside its step (git-disl/Booster ``trainer.py`` ``LDIFSTrainer`` (commit 6421918),
  ``clip_grad_norm_(model.parameters(), 5)`` at L874) and the HF Trainer then clips again at its default
  ``max_grad_norm = 1.0`` (no LDIFS script sets it). Two norm clips in a row equal one clip at the smaller
  bound, so the official effective clip is 1.0: keep ``finetune.max_grad_norm`` at 1.0 (setting 5 clips less
  than the official code).

Usage
-----
Command line (SFT alignment, then LDIFS fine-tuning on the user's data)::

    python -m reference_impl run config.yaml --method ldifs --set method_config.rho=1e-4

Python::

    from reference_impl.defenses import ldifs
    trainer = ldifs.Trainer(model=model, args=training_args, train_dataset=user_rows, defense_config=ldifs.Config())

Paper settings of the fine-tuning run (Booster's LDIFS script): rho 1e-4, lr 1e-5, 20 epochs, batch size 5,
weight decay 0.1, gradient norm clipped at 1.0 in effect (5, then HF's 1.0), n = 1000, p = 0.05.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reference_impl.common.method import MethodSpec



@dataclass(frozen=True)
class Config:
    """LDIFS's own hyper-parameters (the training ones live in the run configuration)."""

    rho: float = field(default=1e-4, metadata={
        "help": "Weight of the feature-distance penalty (rho/2) * sum_l ||a_l - a_l^ref||^2.",
        "source": "Booster repository script/finetune/LDIFS_poison_ratio.sh (rho=1e-4)"})
    skip_above: float = field(default=0.1, metadata={
        "help": "A layer whose penalty term is >= this is left out of the step (overflow guard).",
        "source": "Booster repository trainer.py LDIFSTrainer (threshold 0.1)"})


def check_config(config: Config, context: object = None) -> None:
    """Reject a configuration LDIFS cannot run with, before any training."""
    for name in ("rho", "skip_above"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"ldifs: {name} must be a number > 0, got {value!r}")


METHOD = MethodSpec(stage="fine_tuning", config=Config,
                    needs=("aligned_model",), check=check_config, trainer="Trainer", overhead=1.5)


# ==========================================================================================================
# DEFENSE LOGIC
# ==========================================================================================================

import torch  # noqa: E402  (below the banner: the part above reads without torch)

from reference_impl.common.harness import HFTTrainer  # noqa: E402
from reference_impl.common.models import mlp_modules  # noqa: E402
from reference_impl.common.reference import FrozenReference  # noqa: E402


def mlp_outputs(model, run) -> tuple[object, list[torch.Tensor]]:
    """(output of `run()`, the MLP outputs of every decoder layer recorded during it) (step 1)."""
    recorded: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda module, args, out: recorded.append(out)) for m in mlp_modules(model)]
    try:
        out = run()
    finally:
        for h in hooks:
            h.remove()
    return out, recorded


def feature_penalty(features, reference_features, rho: float, skip_above: float) -> tuple[torch.Tensor, int]:
    """(sum of the kept layers' (rho/2) * ||a - a_ref||_F^2, number of layers left out) (step 2)."""
    total, skipped = features[0].new_zeros((), dtype=torch.float32), 0
    for a, ref in zip(features, reference_features, strict=True):
        term = rho / 2 * (a.float() - ref.float()).pow(2).sum()
        if term.item() >= skip_above:
            skipped += 1
            continue
        total = total + term
    return total, skipped


class Trainer(HFTTrainer):
    """Fine-tuning with LDIFS (steps 1-3)."""

    config_class, config_check = Config, check_config

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reference = FrozenReference(self.model)
        self.last_losses: dict[str, float] = {}

    def _loss(self, model, batch):
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch.get("attention_mask")}
        out, features = mlp_outputs(model, lambda: model(**inputs, labels=batch["labels"]))
        _, reference_features = mlp_outputs(model, lambda: self.reference.forward(**inputs))
        penalty, skipped = feature_penalty(features, reference_features, self.defense_config.rho,
                                           self.defense_config.skip_above)
        self.last_losses = {"task_loss": out.loss.item(), "penalty": penalty.item(), "skipped_layers": skipped}
        return out.loss + penalty

    def defense_step(self, model, inputs):
        return self.forward_backward(model, inputs, self._loss)
