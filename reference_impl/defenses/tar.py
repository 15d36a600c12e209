"""TAR: tamper-resistant training, first-order meta-learning against simulated fine-tuning attacks.

Paper
-----
Tamirisa, Bharathi, Phan, Zhou, Gatti, Suresh, Lin, Wang, Wang, Arel, Zou, Song, Li, Hendrycks, Mazeika.
*Tamper-Resistant Safeguards for Open-Weight LLMs* (ICLR 2025). Knowledge-base record ``tar-2024``, arXiv
2408.00761. Official code: rishub-tamirisa/tamper-resistance (``modules/training.py`` ``tar_training_loop``,
``modules/objectives.py``).

Stage: **alignment** (once, before release). Needs: a retain set (here the alignment set) and a harmful set the
simulated adversaries fine-tune on.

Algorithm
---------
Each outer step trains the weights theta so that, after an adversary has fine-tuned a copy of them for K steps,
a tamper-resistance loss on held-out harmful data is still low, while a retain loss keeps the model useful
(the paper and the official code named above; first-order: the tamper loss's gradient at the adversary's weights theta' is applied to theta):

1. For each of N adversaries: draw its learning rate from ``adversary_lrs`` and its type (``harmful``: SFT on the
   harmful set; ``retain_forget_switch``: retain data for the first M = floor(Beta(6, 3) * K) steps, then harmful
   data), a fresh AdamW with a constant lr, and a held-out tamper batch x_tr.
2. theta' = a copy of the trainable weights. For k = 0..K-1: one adversary step theta' <- AdamW(theta', grad CE)
   (torch's AdamW defaults, weight decay 0.01, as the official inner optimizer).
   After the steps k with (K - 1 - k) mod ``subsample`` = 0 (the last one always), the tamper-resistance loss
   L_TR(theta'; x_tr) is scaled by s * w_k / N, with w_k = exp(lambda * (k - (K - 1))), and its gradient with
   respect to theta' is added to a buffer G. The copy is then dropped: theta itself never moves.
3. Retain loss at theta: retain_scale * [CE(theta; x_r) + mean over the hidden states l = 0..L (the embedding
   output included) of the mean over tokens of ||h_l(theta; x_r) - h_l(theta_ref; x_r)||_2], theta_ref the
   weights at the start of training; backward.
4. grad <- grad + G ("unbounded": always added); the outer optimizer steps.

L_TR is the negative mean token entropy of the predictions at every (non-padding) position of the forget data,
prompt included (``entropy``, the paper's choice for weaponisation knowledge) or, for harmful-request refusal, the cross-entropy of the refusal answers of harmful
prompts (``refusal_ce``, a first-order stand-in for the paper's DPO tamper loss): after the attack the model
should still refuse.

Cost: per outer step K adversary forward/backward passes + ceil(K / subsample) tamper passes + one retain pass +
one reference forward: about 82 SFT steps at K = 64. The copy holds one extra set of trainable weights and AdamW
state. By far the most expensive defense: the configs scale K down.

Deviations
----------
* The adversary works on a copy of the trainable (LoRA) weights through ``torch.func.functional_call``; the
  official code snapshots all parameters to CPU, lets the adversary move the model itself, and restores them.
* Outer optimizer: the run's AdamW (the official code uses ScheduleFree AdamW, lr 2e-5, warmup 32).
* Adversary types: the official pile-bio / camel-bio / retain-forget-switch become ``harmful`` and
  ``retain_forget_switch``, drawn uniformly; the tamper batch is another draw from the same harmful (or, for
  ``refusal_ce``, alignment) set rather than a separate held-out split.
* The reference for the representation term is a snapshot of the trainable weights at the start
  (``common.reference.FrozenReference``): the frozen copy's forward without a second model in memory.
* The official loop only adds G when the tamper loss is above -11.76 unless ``--unbounded``; the bio script sets
  ``--unbounded``, and so does this implementation.
* Checked against rishub-tamirisa/tamper-resistance (commit 19de233): ``modules/objectives.py``
  ``max_entropy_loss`` (entropy averaged over every position of the batch), ``obj_model_mse_representations``
  (every entry of ``hidden_states``, index 0 included, and ``log_p_loss``, the shifted CE), and
  ``modules/training.py`` L1009 (``torch.optim.AdamW(model.parameters(), lr=adversary_lr)``, weight decay 0.01).
  The one difference left: padding positions (attention_mask 0) are left out of the entropy and of the
  representation distance; the official means run over every position of the padded batch.

Usage
-----
Command line (TAR alignment with a scaled-down K, then plain SFT fine-tuning)::

    python -m reference_impl run config.yaml --method tar --set method_config.inner_steps=4

Python::

    from reference_impl.defenses import tar
    trainer = tar.Trainer(model=model, args=training_args, train_dataset=alignment_rows,
                          extra_datasets={"harmful": harmful_rows, "alignment": alignment_rows},
                          defense_config=tar.Config(inner_steps=8))
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reference_impl.common.method import MethodSpec

TAMPER_LOSSES = ("entropy", "refusal_ce")
ADVERSARY_TYPES = ("harmful", "retain_forget_switch")


# `duplicates` pairs the field(default=..., metadata={help, source}) declarations below with the other defenses'
# Configs: same shape, different data (each field's paper default and its source); there is no logic to share.
@dataclass(frozen=True)
class Config:
    """TAR's own hyper-parameters (the outer training ones live in the run configuration)."""

    inner_steps: int = field(default=64, metadata={
        "help": "K: adversary fine-tuning steps per adversary and outer step.",
        "source": "official run_tar_bio.sh (K=64)"})
    subsample: int = field(default=4, metadata={
        "help": "The tamper loss is evaluated every `subsample` adversary steps.",
        "source": "official run_tar_bio.sh (subsample 4)"})
    adversaries: int = field(default=1, metadata={
        "help": "N: adversaries simulated per outer step.", "source": "official run_tar_bio.sh (N=1)"})
    adversary_lrs: tuple[float, ...] = field(default=(2e-6, 2e-5, 4e-5), metadata={
        "help": "The adversary's learning rate is drawn from these.", "source": "official training.py"})
    adversary_batch_size: int = field(default=4, metadata={
        "help": "Batch size of the adversary's fine-tuning batches.", "source": "official run_tar_bio.sh"})
    tamper_scale: float = field(default=4.0, metadata={
        "help": "s: scale of the tamper-resistance gradient.", "source": "official tar_tamper_resistance_grad_scale=4.0"})
    retain_scale: float = field(default=1.0, metadata={
        "help": "Scale of the retain loss.", "source": "official tar_retain_scale=1.0"})
    schedule_lambda: float = field(default=0.0625, metadata={
        "help": "lambda of the weights w_k = exp(lambda * (k - (K - 1))): later adversary steps weigh more.",
        "source": "official run_tar_bio.sh (schedule lambda 0.0625)"})
    retain_representations: bool = field(default=True, metadata={
        "help": "Add the representation-distance term to the retain loss.", "source": "official --retain_representations"})
    tamper_loss: str = field(default="entropy", metadata={
        "help": "entropy (negative token entropy on forget data) | refusal_ce (refusals still learned after the attack).",
        "source": "official objectives.py (entropy for bio); refusal_ce: this implementation's stand-in for the DPO loss"})


def check_config(config: Config, context: object = None) -> None:
    """Reject a configuration TAR cannot run with, before any training."""
    for name in ("inner_steps", "subsample", "adversaries", "adversary_batch_size"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"tar: {name} must be a positive integer, got {value!r}")
    for name in ("tamper_scale", "retain_scale", "schedule_lambda"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"tar: {name} must be a number >= 0, got {value!r}")
    lrs = config.adversary_lrs
    if isinstance(lrs, (str, bytes)) or not lrs or not all(isinstance(v, (int, float)) and v > 0 for v in lrs):
        raise ValueError(f"tar: adversary_lrs must be a non-empty list of positive learning rates, got {lrs!r}")
    if config.tamper_loss not in TAMPER_LOSSES:
        raise ValueError(f"tar: tamper_loss must be one of {', '.join(TAMPER_LOSSES)}, got {config.tamper_loss!r}")
    if isinstance(context, dict) and not context.get("harmful_data"):
        raise ValueError("tar: needs a harmful dataset for the simulated adversaries (harmful prompt -> harmful answer)")


METHOD = MethodSpec(stage="alignment", config=Config, needs=("alignment_data", "harmful_data"), check=check_config, trainer="Trainer",
                    version=2)  # 2: entropy over all positions, hidden state 0, AdamW defaults (issue 23)


# ==========================================================================================================
# DEFENSE LOGIC
# ==========================================================================================================

import math  # noqa: E402
import random  # noqa: E402
from typing import Sequence  # noqa: E402

import torch  # noqa: E402  (below the banner: the part above reads without torch)
import torch.nn.functional as F  # noqa: E402
from torch.func import functional_call  # noqa: E402

from reference_impl.common.harness import HFTTrainer  # noqa: E402
from reference_impl.common.reference import FrozenReference  # noqa: E402
from reference_impl.common.templates import IGNORE_INDEX  # noqa: E402


def _forward(model, weights: dict, batch: dict, **kwargs):
    """The model's output with the trainable weights replaced by `weights` (the model itself is untouched)."""
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch.get("attention_mask"), **kwargs}
    return functional_call(model, weights, args=(), kwargs=inputs, strict=False)


def negative_entropy(logits: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """-mean over every non-padding position of H(softmax(logits)): minimising it maximises the entropy."""
    logp = F.log_softmax(logits.float(), dim=-1)
    entropy = -(logp.exp() * logp).sum(-1)  # [B, T]
    mask = torch.ones_like(entropy) if attention_mask is None else attention_mask.to(entropy.dtype)
    return -(entropy * mask).sum() / mask.sum().clamp_min(1)


def tamper_loss(model, weights, batch, kind: str) -> torch.Tensor:
    """L_TR at the adversary's weights (step 2)."""
    out = _forward(model, weights, batch)
    if kind == "entropy":
        return negative_entropy(out.logits, batch.get("attention_mask"))
    logits, labels = out.logits[:, :-1], batch["labels"][:, 1:]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=IGNORE_INDEX)


def step_weights(inner_steps: int, subsample: int, schedule_lambda: float) -> dict[int, float]:
    """{adversary step k: w_k} for the steps after which the tamper loss is evaluated (step 2)."""
    last = inner_steps - 1
    return {k: math.exp(schedule_lambda * (k - last)) for k in range(inner_steps) if (last - k) % subsample == 0}


def tamper_gradients(model, names: Sequence[str], adversary_batches: Sequence[dict], tamper_batch: dict,
                     lr: float, config: Config) -> list[torch.Tensor]:
    """G for one adversary: sum over the evaluated steps of grad_{theta'} (s * w_k / N * L_TR(theta'_k)) (step 2).

    The adversary trains a copy of the weights `names` with AdamW (constant `lr`) on `adversary_batches` (one per
    step); the model's own parameters are read, never written.
    """
    params = dict(model.named_parameters())
    copy = {n: params[n].detach().clone().requires_grad_(True) for n in names}
    optimizer = torch.optim.AdamW(copy.values(), lr=lr)  # torch's defaults, as the official inner optimizer
    weights = step_weights(len(adversary_batches), config.subsample, config.schedule_lambda)
    buffer = [torch.zeros_like(params[n]) for n in names]
    for k, batch in enumerate(adversary_batches):
        loss = _forward(model, copy, batch, labels=batch["labels"]).loss
        grads = torch.autograd.grad(loss, list(copy.values()))
        for tensor, grad in zip(copy.values(), grads):
            tensor.grad = grad
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if k in weights:
            scaled = config.tamper_scale * weights[k] / config.adversaries * tamper_loss(model, copy, tamper_batch,
                                                                                         config.tamper_loss)
            for slot, grad in zip(buffer, torch.autograd.grad(scaled, list(copy.values()))):
                slot.add_(grad)
    return buffer


def retain_loss(model, batch, config: Config, reference: FrozenReference | None = None) -> torch.Tensor:
    """retain_scale * [CE + mean_{l=0..L} mean_tokens ||h_l - h_l^ref||_2] at theta (step 3); no reference, no distance."""
    want_states = config.retain_representations and reference is not None
    out = model(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask"), labels=batch["labels"],
                output_hidden_states=want_states)
    loss = out.loss
    if want_states:
        ref = reference.forward(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask"),
                                output_hidden_states=True)
        mask = (batch["attention_mask"] if batch.get("attention_mask") is not None
                else torch.ones_like(batch["input_ids"])).unsqueeze(-1).float()
        distances = [((h - r).norm(dim=-1, keepdim=True) * mask).sum() / mask.sum()
                     for h, r in zip(out.hidden_states, ref.hidden_states)]  # index 0 too, as the official
        loss = loss + torch.stack(distances).mean()
    return config.retain_scale * loss


class Trainer(HFTTrainer):
    """Alignment with TAR (steps 1-4). Needs extra_datasets["harmful"] (and "alignment" for the switch adversary)."""

    config_class, config_check = Config, check_config
    required_extra = {'harmful': "the adversaries' harmful data"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rng = random.Random(self.args.seed)  # adversary types, lrs and switch points: the same in a re-run
        self.reference = FrozenReference(self.model)  # theta_ref of step 3: the weights training starts from
        self.last_losses: dict[str, float] = {}

    def adversary(self) -> tuple[float, list[dict], dict]:
        """One adversary of step 1: (lr, its K batches, the tamper batch)."""
        config, size = self.defense_config, self.defense_config.adversary_batch_size
        kind = self.rng.choice(ADVERSARY_TYPES) if "alignment" in self.extra_datasets else "harmful"
        switch = int(self.rng.betavariate(6.0, 3.0) * config.inner_steps) if kind == "retain_forget_switch" else 0
        batches = [self.next_extra_batch("alignment" if k < switch else "harmful", size)
                   for k in range(config.inner_steps)]
        tamper_set = "alignment" if config.tamper_loss == "refusal_ce" else "harmful"
        return float(self.rng.choice(list(config.adversary_lrs))), batches, self.next_extra_batch(tamper_set, size)

    def defense_step(self, model, inputs):
        config = self.defense_config
        names = [n for n, p in model.named_parameters() if p.requires_grad]
        total = None
        for _ in range(config.adversaries):
            lr, batches, tamper_batch = self.adversary()
            grads = tamper_gradients(model, names, batches, tamper_batch, lr, config)
            total = grads if total is None else [t + g for t, g in zip(total, grads)]
        loss = self.forward_backward(model, inputs, lambda m, batch: retain_loss(m, batch, config, self.reference))  # step 3
        params = dict(model.named_parameters())
        with torch.no_grad():  # step 4, scaled like every pass for gradient accumulation
            for name, grad in zip(names, total):
                p = params[name]
                p.grad = grad / self._accumulation_steps() if p.grad is None else p.grad + grad / self._accumulation_steps()
        self.last_losses = {"retain_loss": float(loss)}
        return loss
