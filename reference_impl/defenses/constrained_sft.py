"""Token-wise constrained SFT: fine-tuning that keeps the first answer tokens close to the aligned model.

Paper
-----
Qi, Panda, Lyu, Ma, Roy, Beirami, Mittal, Henderson. *Safety Alignment Should Be Made More Than Just a Few Tokens
Deep* (ICLR 2025). Knowledge-base record ``constrained-sft-2024``, arXiv 2406.05946. Official code:
Unispac/shallow-vs-deep-alignment (``finetuning_buckets/trainer/trainer.py``, ``ConstrainedSFTTrainer``,
``soft_sft_loss`` and ``get_beta_list``).

Stage: **fine-tuning**. Needs: the aligned model (the reference pi_aligned).

Algorithm
---------
The paper finds that alignment changes the model's distribution mostly over the first few answer tokens, so a
fine-tuning attack only has to move those. Its constrained objective (Eqn 3 of the paper) replaces the per-token
cross-entropy with

    L(w) = E_(x,y) [ sum_t (2 / beta_t) * softplus( -beta_t * Delta_t ) ],
    Delta_t = log pi_w(y_t | x, y_<t) - log pi_aligned(y_t | x, y_<t),

which is the cross-entropy (up to a constant) as beta_t -> 0 and stops pushing once pi_w exceeds pi_aligned by
about 1/beta_t nats when beta_t is large. Steps:

1. beta_t for the t-th answer token (1-based): beta * first_token_factor for t = 1, beta * bias_factor for
   2 <= t <= bias_length, beta afterwards (defaults 0.5, 2, 0.1: the paper's Table 3 setting).
2. The gradient of (2 / beta_t) softplus(-beta_t Delta_t) is -w_t * grad log pi_w(y_t) with
   w_t = 2 * (1 - sigmoid(beta_t * Delta_t)) (Appendix D.2). As the official code does, the loss is computed as
   -mean_t w_t.detach() * log pi_w(y_t), which has exactly that gradient and is numerically stable; w_t is
   clipped below at 1e-3 (official code).
3. The mean runs over every answer token of the batch; backward; the optimizer steps. The optimizer is the run's
   AdamW with its first-moment coefficient beta1 set to ``adam_beta1`` = 0.5 (official ``finetune.py``): a
   shorter momentum lets the constraint's down-weighting of a token act within a few steps.

At the start of fine-tuning pi_w = pi_aligned, Delta_t = 0 and w_t = 1: the first step is plain SFT.

Cost: as the official trainer, the reference log-probabilities of every training row are computed once before
the first step (one forward pass over the user's data, reported apart by the bench); each step then costs what an
SFT step costs. The reference is a snapshot of the trainable weights (``common.reference``), not a second model.

Deviations
----------
* Rows the cache has not seen (a caller feeding other data than ``train_dataset``) get their reference
  log-probabilities from a reference forward on the batch: the same numbers, one more forward.
* The data-augmentation half of the paper (safety-recovery examples) is not part of this method (the official
  ``finetune.py`` keeps beta1 = 0.9 for those runs).
* beta1 = 0.5: official ``finetune.py`` (Unispac/shallow-vs-deep-alignment at fb1749e, L111-118) sets
  ``training_args.adam_beta1 = 0.5`` for every fine-tuning-attack run of that repository, plain SFT included;
  here only this method's fine-tuning runs change it (the other methods keep the run's 0.9), so a comparison
  with our SFT row also changes the optimizer. ``adam_beta1 = 0.9`` gives the run's AdamW unchanged.

Usage
-----
Command line::

    python -m reference_impl run config.yaml --method constrained_sft --set method_config.beta=0.1
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reference_impl.common.method import MethodSpec



@dataclass(frozen=True)
class Config:
    """The constrained objective's hyper-parameters (the official trainer's defaults)."""

    beta: float = field(default=0.1, metadata={
        "help": "beta_t of the answer tokens after the first `bias_length`.",
        "source": "official ConstrainedSFTTrainer default beta=0.1; paper Table 3 (beta_t = 0.1 for t > 5)"})
    bias_factor: float = field(default=20.0, metadata={
        "help": "beta_t = beta * bias_factor for answer tokens 2..bias_length.",
        "source": "official default bias_factor=20; paper Table 3 (beta_t = 2 for 2 <= t <= 5)"})
    first_token_factor: float = field(default=5.0, metadata={
        "help": "beta_1 = beta * first_token_factor (weaker: the first token's loss starts high).",
        "source": "official default first_token_bias_factor=5; paper Table 3 (beta_1 = 0.5)"})
    bias_length: int = field(default=5, metadata={
        "help": "How many leading answer tokens get the stronger constraint.",
        "source": "official default bias_length=5"})
    min_weight: float = field(default=1e-3, metadata={
        "help": "Lower clip of the per-token weight w_t.", "source": "official soft_sft_loss (clamp min 1e-3)"})
    adam_beta1: float = field(default=0.5, metadata={
        "help": "AdamW's beta1 for this method's fine-tuning (beta2, lr and weight decay stay the run's).",
        "source": "official finetune.py L111-118 (adam_beta1 = 0.5 for the fine-tuning attacks)"})


def check_config(config: Config, context: object = None) -> None:
    """Reject a configuration the objective cannot run with, before any training."""
    for name in ("beta", "bias_factor", "first_token_factor"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"constrained_sft: {name} must be a number > 0, got {value!r}")
    if isinstance(config.bias_length, bool) or not isinstance(config.bias_length, int) or config.bias_length < 0:
        raise ValueError(f"constrained_sft: bias_length must be an integer >= 0, got {config.bias_length!r}")
    if isinstance(config.min_weight, bool) or not isinstance(config.min_weight, (int, float)) or config.min_weight < 0:
        raise ValueError(f"constrained_sft: min_weight must be a number >= 0, got {config.min_weight!r}")
    beta1 = config.adam_beta1
    if isinstance(beta1, bool) or not isinstance(beta1, (int, float)) or not 0 <= beta1 < 1:
        raise ValueError(f"constrained_sft: adam_beta1 must be a number in [0, 1), got {beta1!r}")


METHOD = MethodSpec(stage="fine_tuning", config=Config,
                    needs=("aligned_model",), check=check_config, trainer="Trainer", overhead=1.15)


# ==========================================================================================================
# DEFENSE LOGIC
# ==========================================================================================================

import torch  # noqa: E402  (below the banner: the part above reads without torch)

from reference_impl.common.harness import HFTTrainer  # noqa: E402
from reference_impl.common.reference import FrozenReference  # noqa: E402
from reference_impl.common.templates import IGNORE_INDEX  # noqa: E402


def beta_schedule(length: int, config: Config, device=None) -> torch.Tensor:
    """beta_t for answer tokens t = 1..length (step 1), built on `device`."""
    betas = torch.full((length,), float(config.beta), device=device)
    betas[: config.bias_length] = config.beta * config.bias_factor
    if config.bias_length > 0 and length > 0:
        betas[0] = config.beta * config.first_token_factor
    return betas


def token_log_probs(logits, labels) -> tuple[torch.Tensor, torch.Tensor]:
    """(log pi(y_t) at every position, mask of the answer positions), both [B, T-1]."""
    targets = labels[:, 1:]
    mask = targets != IGNORE_INDEX
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    picked = logp.gather(-1, targets.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    return picked, mask


def answer_betas(mask: torch.Tensor, config: Config) -> torch.Tensor:
    """beta_t at each answer position of each row, t counting the row's answer tokens from 1; 0 elsewhere (step 1)."""
    index = (mask.long().cumsum(-1) - 1).clamp_min(0)  # t - 1 at the answer tokens
    # t - 1 < the row length: a schedule that long covers every index without reading index.max() back from
    # the device (a GPU sync every step) or copying a CPU-built schedule over.
    schedule = beta_schedule(mask.shape[-1], config, device=mask.device)
    return schedule[index] * mask


def constrained_loss(policy_logits, reference_logits, labels, config: Config,
                     reference_logps: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(-mean over answer tokens of w_t.detach() * log pi_w(y_t), the weights w_t) (steps 2-3).

    The reference enters as its logits or, precomputed, as `reference_logps` [B, T-1] (log pi_aligned(y_t)).
    """
    policy, mask = token_log_probs(policy_logits, labels)
    with torch.no_grad():
        reference = reference_logps if reference_logps is not None else token_log_probs(reference_logits, labels)[0]
        betas = answer_betas(mask, config)
        weights = (2 * (1 - torch.sigmoid(betas * (policy - reference)))).clamp_min(config.min_weight) * mask
    loss = -(weights * policy).sum() / mask.sum().clamp_min(1)
    return loss, weights


def _key(input_ids) -> tuple[int, ...]:
    return tuple(int(i) for i in input_ids)


class Trainer(HFTTrainer):
    """Fine-tuning with the token-wise constrained objective (steps 1-3)."""

    config_class, config_check = Config, check_config

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reference = FrozenReference(self.model)
        self.cache: dict[tuple[int, ...], torch.Tensor] | None = None
        self.cache_seconds = 0.0

    def precompute_reference(self) -> None:
        """log pi_aligned(y_t) of every training row, once, before the weights move (the official trainer's way)."""
        import time

        started = time.perf_counter()
        rows = list(self.train_dataset)
        collate = self._extra_collator()
        self.cache = {}
        size = self.args.per_device_train_batch_size
        for start in range(0, len(rows), size):
            batch = self._prepare_inputs(collate(rows[start : start + size]))
            logits = self.reference.forward(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            logps, _ = token_log_probs(logits, batch["labels"])
            for row, lp in zip(rows[start : start + size], logps):
                self.cache[_key(row["input_ids"])] = lp[: len(row["input_ids"]) - 1].detach()
        self.cache_seconds = time.perf_counter() - started

    def cached_reference(self, batch) -> torch.Tensor | None:
        """[B, T-1] reference log-probabilities of the batch's rows from the cache, or None when one is missing."""
        # Two copies to the host for the whole batch (ids, lengths), not one per row: each is a GPU sync.
        lengths = batch["attention_mask"].sum(-1).tolist()
        found = [self.cache.get(tuple(ids[:n])) for ids, n in zip(batch["input_ids"].tolist(), lengths)]
        if any(f is None for f in found):
            return None
        out = torch.zeros(batch["input_ids"].shape[0], batch["input_ids"].shape[1] - 1, device=batch["input_ids"].device)
        for row, lp in enumerate(found):
            out[row, : len(lp)] = lp
        return out

    def _loss(self, model, batch):
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch.get("attention_mask")}
        cached = self.cached_reference(batch) if self.cache is not None and batch.get("attention_mask") is not None else None
        reference_logits = None if cached is not None else self.reference.forward(**inputs).logits
        loss, _ = constrained_loss(model(**inputs).logits, reference_logits, batch["labels"], self.defense_config, cached)
        return loss

    def get_optimizer_cls_and_kwargs(self, args, model=None):
        """The run's optimizer with beta1 = ``adam_beta1`` (step 3); an instance method, so the Config is at hand."""
        optimizer_cls, kwargs = HFTTrainer.get_optimizer_cls_and_kwargs(args, model)
        if "betas" in kwargs:
            kwargs = dict(kwargs, betas=(float(self.defense_config.adam_beta1), kwargs["betas"][1]))
        return optimizer_cls, kwargs

    def defense_step(self, model, inputs):
        if self.cache is None:
            self.precompute_reference()
        return self.forward_backward(model, inputs, self._loss)
