"""EWC: fine-tuning with an elastic weight-consolidation penalty (the Vaccine repository's baseline).

Paper
-----
The EWC penalty of Kirkpatrick et al. (PNAS 2017) as the fine-tuning-stage baseline of Huang et al., *Vaccine:
Perturbation-aware Alignment for Large Language Models against Harmful Fine-tuning Attack* (NeurIPS 2024;
knowledge-base record ``vaccine-2024``, arXiv 2402.01109), official code git-disl/Vaccine ``trainer.py``
``FITrainer``.

Stage: **fine-tuning**. Needs: the provider's alignment set (for the Fisher information) and the aligned model.

Algorithm
---------
(the official code named above)

1. Before the first step: the diagonal Fisher information of the alignment loss at the starting weights w_0,
   F = sum over the alignment batches b of (d L_align(b) / d w)^2, for every trainable parameter (a sum, as
   the official code accumulates it, not a mean: lambda = 1e9 is tuned for the sum).
2. Each step on the user's batch: loss = h(w) + lambda * sum_i F_i (w_i - w0_i)^2; backward; the optimizer steps.

The fine-tuning LoRA is the alignment LoRA itself, trained further (the official scripts reuse it), so w_0 is the
aligned adapter and F weighs its directions by how much the alignment loss depends on them.

Cost: one pass over the alignment set before training (reported apart by the bench) and a buffer the size of the
trainable weights; per step the same passes as SFT.

Deviations
----------
Checked against git-disl/Vaccine ``trainer.py`` ``FITrainer.training_step`` (commit 8937f68): at round 0 it
zeroes the gradients, back-propagates each batch of its Fisher set (``eval_dataset``, the BeaverTails safe rows,
batch 5) and adds ``torch.square(module.weight.grad)`` per LoRA module (L337), never dividing; the penalty is
``lamb * sum(F * (W - W0)^2)`` over the LoRA modules (L308). Here the same sum, so lambda keeps its official
meaning; the penalty grows with the number of alignment batches, as the official one does.

* ``fisher_batches`` caps the pass for large alignment sets (the official code uses every batch); a cap makes
  the penalty smaller in proportion, so raise lambda by the same factor to keep it.

Usage
-----
Command line::

    python -m reference_impl run config.yaml --method ewc --set method_config.lam=1e9
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reference_impl.common.method import MethodSpec



@dataclass(frozen=True)
class Config:
    """EWC's own hyper-parameters."""

    lam: float = field(default=1e9, metadata={
        "help": "lambda: weight of sum_i F_i (w_i - w0_i)^2.",
        "source": "Vaccine repository fine-tuning script for EWC (lambda=1e9)"})
    fisher_batches: int = field(default=0, metadata={
        "help": "Alignment batches used for the Fisher (0: the whole alignment set, as the official code).",
        "source": "this implementation (the official code uses every batch)"})


def check_config(config: Config, context: object = None) -> None:
    """Reject a configuration EWC cannot run with, before any training."""
    if isinstance(config.lam, bool) or not isinstance(config.lam, (int, float)) or config.lam < 0:
        raise ValueError(f"ewc: lam must be a number >= 0, got {config.lam!r}")
    if isinstance(config.fisher_batches, bool) or not isinstance(config.fisher_batches, int) or config.fisher_batches < 0:
        raise ValueError(f"ewc: fisher_batches must be an integer >= 0, got {config.fisher_batches!r}")
    if isinstance(context, dict) and not context.get("alignment_data"):
        raise ValueError("ewc: needs the alignment data for the Fisher information (data.alignment)")


METHOD = MethodSpec(stage="fine_tuning", config=Config,
                    needs=("alignment_data", "aligned_model"), check=check_config, trainer="Trainer",
                    finetune_lora="continue", overhead=1.15,
                    version=2)  # 2: the Fisher summed over batches (issue 23)


# ==========================================================================================================
# DEFENSE LOGIC
# ==========================================================================================================

import torch  # noqa: E402  (below the banner: the part above reads without torch)

from reference_impl.common.harness import HFTTrainer  # noqa: E402


def fisher_diagonal(model, params, batches) -> list[torch.Tensor]:
    """F = sum over `batches` of the squared gradient of the LM loss, one tensor per parameter (step 1)."""
    fisher = [torch.zeros_like(p, dtype=torch.float32) for p in params]
    count = 0
    for batch in batches:
        loss = model(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask"), labels=batch["labels"]).loss
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        for slot, g in zip(fisher, grads):
            if g is not None:
                slot.add_(g.detach().float().pow(2))
        count += 1
    if count == 0:
        raise ValueError("ewc: the alignment set is empty; the Fisher information needs it")
    return fisher


def ewc_penalty(params, anchors, fisher, lam: float) -> torch.Tensor:
    """lambda * sum_i F_i (w_i - w0_i)^2 (step 2)."""
    return lam * sum((f * (p.float() - a).pow(2)).sum() for p, a, f in zip(params, anchors, fisher))


class Trainer(HFTTrainer):
    """Fine-tuning with EWC (steps 1-2). Needs extra_datasets["alignment"]."""

    config_class, config_check = Config, check_config
    required_extra = {"alignment": "the alignment rows for the Fisher information"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fisher: list[torch.Tensor] | None = None
        self.anchors: list[torch.Tensor] | None = None
        self.fisher_seconds = 0.0
        self.last_losses: dict[str, float] = {}

    def alignment_batches(self):
        """Every alignment batch once, in order (or the first `fisher_batches`)."""
        from torch.utils.data import DataLoader

        loader = DataLoader(self.extra_datasets["alignment"], batch_size=self.args.per_device_train_batch_size,
                            collate_fn=self._extra_collator())
        for i, batch in enumerate(loader):
            if self.defense_config.fisher_batches and i >= self.defense_config.fisher_batches:
                return
            yield self._prepare_inputs(batch)

    def prepare_fisher(self, model) -> None:
        import time

        started = time.perf_counter()
        params = self.trainable_parameters(model)
        self.anchors = [p.detach().clone().float() for p in params]
        self.fisher = fisher_diagonal(model, params, self.alignment_batches())
        self.fisher_seconds = time.perf_counter() - started

    def _loss(self, model, batch):
        out = model(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask"), labels=batch["labels"])
        penalty = ewc_penalty(self.trainable_parameters(model), self.anchors, self.fisher, self.defense_config.lam)
        self.last_losses = {"task_loss": out.loss.item(), "penalty": penalty.item()}
        return out.loss + penalty

    def defense_step(self, model, inputs):
        if self.fisher is None:
            self.prepare_fisher(model)
        return self.forward_backward(model, inputs, self._loss)
