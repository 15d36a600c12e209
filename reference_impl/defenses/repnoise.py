"""RepNoise: representation noising, an alignment-stage defense that pushes harmful representations toward noise.

Paper
-----
Rosati, Wehner, Williams, Bartoszcze, Atanasov, Gonzales, Majumdar, Maple, Sajjad, Rudzicz. *Representation
Noising: A Defence Mechanism Against Harmful Finetuning* (NeurIPS 2024). Knowledge-base record ``repnoise-2024``,
arXiv 2405.14577. Official code: domenicrosati/representation-noising (``loss.py``); the re-implementation the
Booster and Antidote repositories use as a baseline is ``loss_func/repnoise_loss.py``.

Stage: **alignment** (once, before the model is released or offered for fine-tuning). Needs: the alignment set
(harmful prompt -> refusal) and a harmful set (harmful prompt -> harmful answer).

Algorithm
---------
Each step takes a harmless batch (the alignment batch: refusals) and a harmful batch, and descends (the paper and the official code named above)

    L = CE(harmless) + beta * L_noise - alpha * log( mean_j CE_j(harmful) + 1 )

1. CE(harmless): the usual next-token loss on the refusal answers.
2. Harmful forward with every hidden state: CE_j(harmful) is the next-token loss of the answer tokens read
   through head j, where the heads are the final logits and the *logit lens* of each intermediate hidden state,
   lm_head(final_norm(h_i)); the mean runs over the N_h = L + 1 heads. Subtracting alpha * log(. + 1) is bounded
   gradient ascent: it raises the harmful loss at every depth, with a gradient that fades as the loss grows.
3. L_noise = mean over decoder layers l of MMD( m * a_l(harmful), m * z ), where a_l is the output of layer l's
   MLP, z ~ N(0, I) of the same shape, m masks the positions to compare (the answer tokens), and both are
   flattened per sample to [B, T * d].
4. MMD is the multi-kernel Gaussian estimate: with all 2B samples stacked, squared distances D, bandwidth
   b = sum(D) / (n^2 - n) / 2^2 (no gradient through b), kernels K = sum_{k=0..4} exp(-D / (b * 2^k)) and
   MMD = mean(K_XX + K_YY - K_XY - K_YX).
5. Backward through L; the Trainer's AdamW steps.

Cost: two forward passes (harmless, harmful with all hidden states) and one backward per step, plus one [B, T, V]
logits tensor per layer for the logit lens (computed and reduced one layer at a time here) and a per-layer
MMD on B x (T d) matrices.

Deviations
----------
* Harmful and harmless batches are not paired (the Booster/Antidote re-implementation): the harmful batch is drawn
  from the defender's harmful set, the harmless one is the alignment batch. The official mask ("positions where
  the paired sequences differ", roughly the answer) becomes the harmful batch's answer positions (labels != -100).
  The masked cross-entropy of the official code assumes pad id 0; here the labels' -100 does the masking.
* The heads for the harmful loss are the final logits plus the logit lens of every hidden state but the last (in
  transformers the last hidden state is already the final-normed one that gives the final logits), so N_h = L + 1
  distinct heads; the official code applies the final norm to every entry of ``hidden_states``.
* alpha = 1 and beta = 0.001 are the official repository's defaults; Booster's re-run uses alpha = 0.1. The README
  warns that a grid search over lr, alpha, beta and the number of defence samples is always needed.

Usage
-----
Command line (align with RepNoise, then plain SFT fine-tuning on the user's data)::

    python -m reference_impl run config.yaml --method repnoise --set method_config.alpha=0.1

Python::

    from reference_impl.defenses import repnoise
    trainer = repnoise.Trainer(model=model, args=training_args, train_dataset=alignment_rows,
                               extra_datasets={"harmful": harmful_rows}, defense_config=repnoise.Config())
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reference_impl.common.method import MethodSpec


# `duplicates` pairs the field(default=..., metadata={help, source}) declarations below with the other defenses'
# Configs: same shape, different data (each field's paper default and its source); there is no logic to share.
@dataclass(frozen=True)
class Config:
    """RepNoise's own hyper-parameters (the training ones live in the run configuration)."""

    alpha: float = field(
        default=1.0,
        metadata={"help": "Weight of the bounded gradient ascent on the harmful loss, -alpha * log(CE_harm + 1).",
                  "source": "official representation-noising repository (alpha=1); Booster's re-run uses 0.1"},
    )
    beta: float = field(
        default=0.001,
        metadata={"help": "Weight of the noise term: MMD between harmful MLP activations and Gaussian noise.",
                  "source": "official representation-noising repository (beta=0.001, model repnoise_0.001_beta)"},
    )
    harmful_batch_size: int = field(
        default=4,
        metadata={"help": "Batch size of the harmful batches.", "source": "official repository (batch size 4)"},
    )


def check_config(config: Config, context: object = None) -> None:
    """Reject a configuration RepNoise cannot run with, before any training."""
    for name in ("alpha", "beta"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"repnoise: {name} must be a number > 0, got {value!r}")
    if isinstance(config.harmful_batch_size, bool) or not isinstance(config.harmful_batch_size, int) \
            or config.harmful_batch_size < 2:
        raise ValueError(f"repnoise: harmful_batch_size must be an integer >= 2 (MMD compares samples), "
                         f"got {config.harmful_batch_size!r}")
    if isinstance(context, dict) and not context.get("harmful_data"):
        raise ValueError("repnoise: needs a harmful dataset for the defender (harmful prompt -> harmful answer)")


METHOD = MethodSpec(stage="alignment", config=Config, needs=("alignment_data", "harmful_data"), check=check_config, trainer="Trainer",
                    overhead=3.5)


# ==========================================================================================================
# DEFENSE LOGIC
# ==========================================================================================================

import torch  # noqa: E402  (below the banner: the part above reads without torch)
import torch.nn.functional as F  # noqa: E402

from reference_impl.common.harness import HFTTrainer  # noqa: E402
from reference_impl.common.models import mlp_modules, unwrap_model  # noqa: E402
from reference_impl.common.templates import IGNORE_INDEX  # noqa: E402

KERNEL_MUL, KERNEL_NUM = 2.0, 5  # step 4: widths b * 2^k, k = 0..4, centred by dividing b by 2^(5 // 2)


def mmd(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Multi-kernel Gaussian MMD between samples x [n, D] and y [n, D] (step 4)."""
    n = x.shape[0]
    total = torch.cat([x, y]).float()
    distances = torch.cdist(total, total).pow(2)  # [2n, 2n] squared Euclidean
    count = total.shape[0]
    bandwidth = distances.detach().sum() / (count * count - count) / KERNEL_MUL ** (KERNEL_NUM // 2)
    bandwidth = bandwidth.clamp_min(1e-12)  # all-masked rows: every distance is 0, and MMD is 0, not NaN
    kernels = sum(torch.exp(-distances / (bandwidth * KERNEL_MUL**k)) for k in range(KERNEL_NUM))
    xx, yy, xy, yx = kernels[:n, :n], kernels[n:, n:], kernels[:n, n:], kernels[n:, :n]
    return (xx + yy - xy - yx).mean()


def _shifted_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over the positions whose label is not -100."""
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), labels[:, 1:].reshape(-1),
                           ignore_index=IGNORE_INDEX)


def harmful_losses(model, batch) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(mean over the heads of the harmful CE, the MLP outputs of every decoder layer) (steps 2-3)."""
    activations: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda module, args, out: activations.append(out)) for m in mlp_modules(model)]
    try:
        out = model(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask"), output_hidden_states=True)
    finally:
        for h in hooks:
            h.remove()
    core = unwrap_model(model)
    norm, head = _final_norm(core), core.get_output_embeddings()
    losses = [_shifted_ce(out.logits, batch["labels"])]
    for hidden in out.hidden_states[:-1]:  # the logit lens; the last hidden state gives out.logits
        losses.append(_shifted_ce(head(norm(hidden)), batch["labels"]))
    return torch.stack(losses).mean(), activations


def _final_norm(core):
    """The norm applied before the LM head (Llama/Mistral/Qwen2/Gemma, GPT-2, GPT-NeoX, OPT)."""
    for path in ("model.norm", "transformer.ln_f", "gpt_neox.final_layer_norm", "model.decoder.final_layer_norm"):
        module = core
        for part in path.split("."):
            module = getattr(module, part, None)
        if isinstance(module, torch.nn.Module):
            return module
    raise ValueError(f"repnoise: cannot find the final norm of {type(core).__name__} for the logit lens")


def noise_loss(activations, labels: torch.Tensor, generator: torch.Generator | None = None,
               noise: list[torch.Tensor] | None = None) -> torch.Tensor:
    """Mean over layers of MMD(mask * a_l, mask * z), samples flattened to [B, T*d] (step 3)."""
    mask = (labels != IGNORE_INDEX).unsqueeze(-1)  # [B, T, 1]: the answer positions
    terms = []
    for i, a in enumerate(activations):
        z = noise[i] if noise is not None else torch.randn(a.shape, generator=generator, dtype=torch.float32).to(a.device)
        terms.append(mmd((a * mask).flatten(1), (z.to(a.dtype) * mask).flatten(1)))
    return torch.stack(terms).mean()


def repnoise_loss(model, harmless, harmful, config: Config, generator=None, noise=None) -> tuple[torch.Tensor, dict]:
    """L = CE(harmless) + beta * L_noise - alpha * log(CE_harm + 1) and its parts (steps 1-4)."""
    harmless_ce = model(input_ids=harmless["input_ids"], attention_mask=harmless.get("attention_mask"),
                        labels=harmless["labels"]).loss
    harmful_ce, activations = harmful_losses(model, harmful)
    noise_term = noise_loss(activations, harmful["labels"], generator=generator, noise=noise)
    loss = harmless_ce + config.beta * noise_term - config.alpha * torch.log(harmful_ce + 1)
    parts = {"harmless_ce": harmless_ce.detach().item(), "harmful_ce": harmful_ce.detach().item(),
             "noise_mmd": noise_term.detach().item()}
    return loss, parts


class Trainer(HFTTrainer):
    """Alignment with RepNoise: each step descends the combined loss (steps 1-5). Needs extra_datasets["harmful"]."""

    config_class, config_check = Config, check_config
    required_extra = {"harmful": "harmful prompt -> harmful answer"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.noise_generator = torch.Generator().manual_seed(self.args.seed)
        self.last_losses: dict[str, float] = {}

    def defense_step(self, model, inputs):
        harmful = self.next_extra_batch("harmful", self.defense_config.harmful_batch_size)
        loss_fn = lambda m, batch: self._loss(m, batch, harmful)  # noqa: E731
        return self.forward_backward(model, inputs, loss_fn)

    def _loss(self, model, harmless, harmful):
        loss, self.last_losses = repnoise_loss(model, harmless, harmful, self.defense_config, self.noise_generator)
        return loss
