"""KL: fine-tuning with a KL penalty toward the aligned model (the Vaccine repository's baseline).

Paper
-----
No paper of its own: the KL-regularised fine-tuning baseline of Huang et al., *Vaccine: Perturbation-aware
Alignment for Large Language Models against Harmful Fine-tuning Attack* (NeurIPS 2024; knowledge-base record
``vaccine-2024``, arXiv 2402.01109), official code git-disl/Vaccine ``trainer.py`` ``KLTrainer``.

Stage: **fine-tuning**. Needs: the aligned model, kept frozen as the teacher.

Algorithm
---------
Each fine-tuning step on the user's batch (the official code named above):

1. Student logits z_s = f(w; x); teacher logits z_t = f(w_0; x) with w_0 the aligned model (frozen).
2. KL(teacher || student) at every position of the batch: sum_v p_t(v) (log p_t(v) - log p_s(v)) with
   p = softmax over the vocabulary; summed over the positions and divided by the batch size B (torch's
   ``KLDivLoss(reduction="batchmean")(log_softmax(z_s), softmax(z_t))``, the official call).
3. Loss: h(w) + lambda * KL; backward; the optimizer steps.

Cost: one extra teacher forward per step; the teacher is a snapshot of the trainable weights (``common.reference``).

Deviations
----------
Checked against git-disl/Vaccine ``trainer.py`` ``KLTrainer.training_step`` (L391-392 at commit 8937f68):
``KLDivLoss(reduction="batchmean")(F.log_softmax(student_logits, dim=1), F.softmax(teacher_logits, dim=1))``.
Direction (teacher || student) and reduction (sum over positions, / B) are the official ones; two things differ:

* The official call takes the softmax over dim=1 of the [B, T, V] logits, the sequence axis (a bug); here it is
  over the vocabulary (dim=-1), the distribution the KL is meant to compare.
* Padding positions (attention_mask 0) are left out; the official sum runs over every position of the padded
  batch, so its penalty also grows with how much padding a batch has. Prompt and answer positions both count.

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
        "help": "lambda: weight of KL(teacher || student) (summed over positions, / batch size).",
        "source": "Vaccine repository script/finetune/kl (lambda=0.1)"})


def check_config(config: Config, context: object = None) -> None:
    """Reject a configuration KL cannot run with, before any training."""
    if isinstance(config.lam, bool) or not isinstance(config.lam, (int, float)) or config.lam < 0:
        raise ValueError(f"kl: lam must be a number >= 0, got {config.lam!r}")


METHOD = MethodSpec(stage="fine_tuning", config=Config,
                    needs=("aligned_model",), check=check_config, trainer="Trainer", overhead=1.5,
                    version=2)  # 2: KL(teacher || student), batchmean (issue 23)


# ==========================================================================================================
# DEFENSE LOGIC
# ==========================================================================================================

import torch  # noqa: E402  (below the banner: the part above reads without torch)
import torch.nn.functional as F  # noqa: E402

from reference_impl.common.harness import HFTTrainer  # noqa: E402
from reference_impl.common.reference import FrozenReference  # noqa: E402


def kl_teacher_student(student_logits, teacher_logits, attention_mask=None) -> torch.Tensor:
    """KL(p_teacher || p_student) summed over the batch's non-padding positions, divided by the batch size (step 2).

    The softmax is over the vocabulary; ``attention_mask`` None counts every position (as the official call does).
    """
    if attention_mask is None:
        attention_mask = torch.ones(student_logits.shape[:2], dtype=torch.bool, device=student_logits.device)
    mask = attention_mask.bool()
    log_s = F.log_softmax(student_logits[mask].float(), dim=-1)  # [positions, V]
    log_t = F.log_softmax(teacher_logits[mask].float(), dim=-1)
    return (log_t.exp() * (log_t - log_s)).sum() / student_logits.shape[0]


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
        kl = kl_teacher_student(out.logits, self.teacher.forward(**inputs).logits, inputs["attention_mask"])
        self.last_losses = {"task_loss": out.loss.item(), "kl": kl.item()}
        return out.loss + self.defense_config.lam * kl

    def defense_step(self, model, inputs):
        return self.forward_backward(model, inputs, self._loss)
