"""KL: fine-tuning with a KL penalty toward the aligned model (the Vaccine repository's baseline).

Paper
-----
No paper of its own: the KL-regularised fine-tuning baseline of Huang et al., *Vaccine: Perturbation-aware
Alignment for Large Language Models against Harmful Fine-tuning Attack* (NeurIPS 2024; knowledge-base record
``vaccine-2024``, arXiv 2402.01109), official code git-disl/Vaccine ``trainer.py`` ``KLTrainer``.

Stage: **fine-tuning**. Needs: the aligned model, kept frozen as the teacher.

Algorithm
---------
Each fine-tuning step on the user's batch (DEFENSES.md 4.3):

1. Student logits z_s = f(w; x); teacher logits z_t = f(w_0; x) with w_0 the aligned model (frozen).
2. KL(student || teacher) at every answer position: sum_v p_s(v) (log p_s(v) - log p_t(v)) with
   p = softmax over the vocabulary; averaged over the answer positions of the batch.
3. Loss: h(w) + lambda * KL; backward; the optimizer steps.

Cost: one extra teacher forward per step; the teacher is a snapshot of the trainable weights (``common.reference``).

Deviations
----------
* The official trainer takes the softmax over dim=1 of the [B, T, V] logits, the sequence axis (DEFENSES.md 9.6,
  a bug); here it is over the vocabulary (dim=-1).
* The KL is averaged over the answer tokens (labels != -100), the positions the fine-tuning loss trains; the
  official code averages over every position of the padded batch.

Usage
-----
Command line::

    python -m reference_impl run config.yaml --method kl --set method_config.lam=0.1
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reference_impl.common.method import MethodSpec



@dataclass(frozen=True)
class Config:
    """KL's own hyper-parameter."""

    lam: float = field(default=0.1, metadata={
        "help": "lambda: weight of KL(student || teacher).",
        "source": "Vaccine repository script/finetune/kl (lambda=0.1)"})


def check_config(config: Config, context: object = None) -> None:
    """Reject a configuration KL cannot run with, before any training."""
    if isinstance(config.lam, bool) or not isinstance(config.lam, (int, float)) or config.lam < 0:
        raise ValueError(f"kl: lam must be a number >= 0, got {config.lam!r}")


METHOD = MethodSpec(stage="fine_tuning", config=Config,
                    needs=("aligned_model",), check=check_config, trainer="Trainer")


# ==========================================================================================================
# DEFENSE LOGIC
# ==========================================================================================================

import torch  # noqa: E402  (below the banner: the part above reads without torch)
import torch.nn.functional as F  # noqa: E402

from reference_impl.common.harness import HFTTrainer  # noqa: E402
from reference_impl.common.reference import FrozenReference  # noqa: E402
from reference_impl.common.templates import IGNORE_INDEX  # noqa: E402


def kl_student_teacher(student_logits, teacher_logits, labels) -> torch.Tensor:
    """Mean over the answer positions of KL(p_student || p_teacher), softmax over the vocabulary (step 2).

    Position t predicts token t + 1, so the logits at t count when label t + 1 is an answer token; only those
    positions are normalised (the prompt's half of a [B, T, V] logits tensor is never softmaxed).
    """
    mask = labels[:, 1:] != IGNORE_INDEX
    if not mask.any():
        return student_logits.sum() * 0.0
    log_s = F.log_softmax(student_logits[:, :-1][mask].float(), dim=-1)  # [answer positions, V]
    log_t = F.log_softmax(teacher_logits[:, :-1][mask].float(), dim=-1)
    return (log_s.exp() * (log_s - log_t)).sum(-1).mean()


class Trainer(HFTTrainer):
    """Fine-tuning with the KL penalty (steps 1-3)."""

    config_class, config_check = Config, check_config

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.teacher = FrozenReference(self.model)
        self.last_losses: dict[str, float] = {}

    def _loss(self, model, batch):
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch.get("attention_mask")}
        out = model(**inputs, labels=batch["labels"])
        kl = kl_student_teacher(out.logits, self.teacher.forward(**inputs).logits, batch["labels"])
        self.last_losses = {"task_loss": out.loss.item(), "kl": kl.item()}
        return out.loss + self.defense_config.lam * kl

    def defense_step(self, model, inputs):
        return self.forward_backward(model, inputs, self._loss)
