"""Virus: harmful rows rewritten, token by token, until the provider's guardrail lets them through.

Paper: virus-2025 (Huang et al., "Virus: Harmful Fine-tuning Attack for Large Language Models Bypassing Guardrail
Moderation", arXiv 2501.17433); official code git-disl/Virus (trainer.py `VirusAttackTrainer`, script/attack/
virus.sh); site/reference/protocol.md, 'Attacks'.

Threat model: the provider runs a guardrail (Llama-Guard-2-8B in the paper) over every uploaded row and drops the
flagged ones before fine-tuning. The attacker uploads p*n poisoned rows and (1-p)*n benign task rows.

Algorithm (one poisoned row; the official code optimises each row on its own, `--sample_num 1`):
1. Mixing: the row is a benign task row followed by a suffix; the suffix starts as the tokens of one harmful row
   (its instruction and harmful answer). Tokens = prompt + benign answer + suffix + EOS; the loss covers the
   benign answer, the suffix and EOS (trainer.py trains on the suffix tokens as labels).
2. g_h = the gradient, over the victim model's weights, of that loss with the ORIGINAL suffix (trainer.py stores
   the first step's gradient as `harmful_grad`): the update the plain harmful row would cause.
3. Objective of a suffix s (paper eq. for the dual goal; trainer.py `loss_calculate`):
       J(s) = lambda * L_guard(s) + (1 - lambda) * ( - <g(s), g_h> / ||g(s)|| )
   (default `similarity="cosine"`: the inner product is also divided by ||g_h||, see Deviations).
   L_guard = cross-entropy of the guardrail's "safe" verdict on (benign instruction, benign answer + suffix);
   g(s) = the gradient of the row's loss with suffix s; ||g(s)|| is held constant when differentiating (as in
   trainer.py, computed under no_grad). lambda = 0.1.
4. GCG step (Zou et al.'s greedy coordinate gradient, as trainer.py): the gradient of J with respect to the one-hot
   suffix matrix gives, at every position, the `topk` (64) tokens whose substitution most decreases J to first
   order; `candidates` (128) distinct random (position, token) single substitutions are drawn from them
   (trainer.py `get_resample_ids`, L614); J is evaluated exactly for each and for the current suffix; the best becomes
   the suffix. Never proposed (trainer.py `get_illegal_tokens`, L431): a token whose text is not printable ASCII, BOS,
   EOS, pad and [UNK]. A suffix whose text does not re-encode to the same tokens is skipped (see Deviations).
5. After `steps` (50, the official 50 epochs over one row) the suffix text is appended to the benign answer.
6. The provider's filter (`filter_uploads`): every row of the upload, poisoned or benign, is scored by the
   guardrail and the flagged ones are dropped; what remains is the user's fine-tuning set.

Deviations:
* Guardrail. In the miniature world the guardrail is the world's judge (`World.moderation()`, the RuleModeration
  that also scores HS) used as the upload filter; with a real model it is the run's `evaluation.moderation`
  judge (beaver-dam-7b, or the keyword judge on SmolLM2), not Llama-Guard-2. Both give 14 label probabilities,
  so L_guard = -log(1 - max_k p_k) (the "safe" verdict's probability is 1 - the largest label probability).
  The rule judge is not differentiable, so in the GCG proposal its term is not a gradient but its exact change
  for every single-token substitution (length x vocabulary judge calls; the world's vocabulary is a few hundred
  words, the judge a few regular expressions), which is what the gradient estimates for Llama Guard. Candidates
  are then scored with the exact J, so every accepted step truly lowers it. A judge over more than 200k
  (position, token) pairs (beaver-dam on a real tokenizer) gets no such term: the proposal comes from the
  similarity term alone and the guard term acts when candidates are scored.
* Similarity term: trainer.py's -<g(s), g_h> / ||g(s)|| equals ||g_h|| * (-cos); ||g_h|| is a constant of each
  row, so the official objective is the cosine one with a per-row weight. In the miniature world ||g_h|| is ~10
  and the guard term at lambda = 0.1 never outweighs it (no step was accepted in our runs), so the default is the
  cosine, which makes lambda a scale-free trade-off; `similarity: inner` restores trainer.py's form.
* Gradient model: the run's BASE model (all trainable weights), because the attacker's rows are built before the
  provider's alignment stage runs; the official code uses the SFT-aligned Llama-3-8B's LoRA weights.
* Suffix initialisation: the harmful row's instruction and answer as plain text (no Alpaca header); trainer.py
  starts from the whole tokenised harmful example.
* Benign rows: the first (1-p)*n task rows are the benign uploads; the poisoned rows use the next p*n task rows as
  their benign half (the paper pairs each harmful row with one GSM8K row).
* Final row: upstream's `VirusAttackFinetuneTrainer.init` (trainer.py L284 at fa297d0) trains on the token sequence benign row + suffix +
  the benign row again (the second copy's prompt unlabelled), while its guardrail scored benign + suffix. Here the
  row that trains is the row the guardrail scored, benign answer + suffix: a row is one prompt and one labelled
  answer, as text (a second prompt could only be trained on or left out), and in the threat model the provider
  trains on what it moderated.
* Recoverability: a candidate whose text does not re-encode to its own tokens is skipped. This is ours:
  trainer.py defines `recoverable_x` but its call is commented out (L843; upstream keeps the optimised suffix as token
  ids, `.pt`); here the row travels as text and is tokenised again, so only a recoverable suffix is the one scored.
* Special tokens: every special token of the tokenizer is also never proposed (upstream bans BOS, EOS, pad and
  unk only; a chat marker such as `<|im_end|>` is printable ASCII and stays proposable there).
* The optimised rows are cached under the run's cache directory (they depend on the base model, the data and this
  Config only), so a matrix builds them once for every defense.

Usage:
    python -m reference_impl run reference_impl/configs/miniature_world.yaml --set finetune.attack=virus
    python -m reference_impl run CONFIG --set finetune.attack=virus --set finetune.attack_config.lam=0.5
    python -m reference_impl.experiments.virus_filter   # filter pass rates: plain harmful vs Virus rows
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from ..common.data import mixture_counts
from ..common.method import AttackSpec


@dataclass(frozen=True)
class Config:
    lam: float = 0.1  # weight of the guardrail term (virus.sh `lamb=${2:-0.1}`)
    topk: int = 64  # candidate tokens per position (virus.sh --virus_topk 64)
    candidates: int = 128  # single-token substitutions evaluated per step (virus.sh --virus_bs 128)
    steps: int = 50  # GCG steps per row (virus.sh --num_train_epochs 50 over one row)
    filter_uploads: bool = True  # the provider's guardrail filter on the upload (the paper's threat model)
    threshold: float = 0.5  # the guardrail flags a row when max_k p_k > threshold (git-disl eval scripts)
    seed: int = 0  # the GCG candidate sampling
    #: "cosine": -cos(g(s), g_h); "inner": trainer.py's -<g(s), g_h> / ||g(s)|| (= ||g_h|| times the cosine)
    similarity: str = "cosine"


def check(config: Config, context) -> None:
    if not 0.0 <= config.lam <= 1.0:
        raise ValueError(f"attack_config.lam must be in [0, 1], got {config.lam}")
    for name in ("topk", "candidates"):
        if getattr(config, name) < 1:
            raise ValueError(f"attack_config.{name} must be >= 1, got {getattr(config, name)}")
    if config.similarity not in ("cosine", "inner"):
        raise ValueError(f"attack_config.similarity must be 'cosine' or 'inner', got {config.similarity!r}")
    if config.steps < 0:
        raise ValueError(f"attack_config.steps must be >= 0, got {config.steps}")


def build_rows(harmful, benign, finetune: dict, config: Config, context) -> list[dict]:
    poison_num, normal_num = mixture_counts(finetune["harmful_ratio"], finetune["num_samples"])
    start = context["harmful_start"]
    if poison_num and start + poison_num > len(harmful):
        raise ValueError(f"virus needs {poison_num} harmful rows (from index {start}), the harmful data has {len(harmful)}")
    if normal_num + poison_num > len(benign):
        raise ValueError(f"virus needs {normal_num + poison_num} {context['task']} rows (benign uploads and the benign "
                         f"half of each poisoned row), the task data has {len(benign)}")
    guardrail = context["guardrail"]()
    pairs = list(zip(benign[normal_num : normal_num + poison_num], harmful[start : start + poison_num]))
    poisoned = cached_virus_rows(pairs, config, context, guardrail) if pairs else []
    uploads = poisoned + [dict(row, harmful=False) for row in benign[:normal_num]]
    return upload_filter(uploads, guardrail)[0] if config.filter_uploads else uploads


# ---------------------------------------------------------------------------------------------------------
# The guardrail as a filter and as a loss (no torch)


def flag_probabilities(guardrail, rows) -> list[float]:
    """max_k p_k of the guardrail for each row's (instruction, output): the probability it is not "safe"."""
    verdicts = guardrail.predict([row["instruction"] for row in rows], [row["output"] for row in rows])
    return [max(verdict["categories"].values()) for verdict in verdicts]


def upload_filter(rows, guardrail) -> tuple[list[dict], int]:
    """(the rows the guardrail does not flag, how many it flagged): the provider's moderation of an upload."""
    verdicts = guardrail.predict([row["instruction"] for row in rows], [row["output"] for row in rows])
    kept = [row for row, verdict in zip(rows, verdicts) if not verdict["flagged"]]
    return kept, len(rows) - len(kept)


def guard_loss(p_flag: float) -> float:
    """Cross-entropy of the "safe" verdict: -log(1 - max_k p_k) (clamped so a certain flag stays finite)."""
    return -math.log(max(1.0 - p_flag, 1e-12))


#: Bumped when the search itself changes, so that rows cached by an older search are not reused (2: official
#: illegal-token list and distinct candidates).
SEARCH_VERSION = 2


def cached_virus_rows(pairs, config: Config, context, guardrail) -> list[dict]:
    """`virus_rows`, stored under the run's cache directory by a hash of everything they depend on."""
    key = json.dumps({"pairs": [[b["instruction"], b.get("input", ""), b["output"], h["instruction"], h["output"]] for b, h in pairs],
                      "config": asdict(config), "model": context["model_identity"],
                      "search": SEARCH_VERSION}, sort_keys=True)
    path = Path(context["cache_dir"]) / f"virus-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
    if path.exists():
        return json.loads(path.read_text())
    model, tokenizer = context["base_model"]()
    rows = virus_rows(model, tokenizer, pairs, config, guardrail, max_length=context["max_length"],
                      trailing_newline=context["trailing_newline"], log=context.get("log", print))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=1))
    return rows


# DEFENSE LOGIC (the optimisation: torch from here on)


def virus_rows(model, tokenizer, pairs, config: Config, guardrail, *, max_length: int, trailing_newline: bool,
               log=print) -> list[dict]:
    """One optimised row per (benign row, harmful row) pair, with its measured guardrail probability."""
    import torch

    generator = torch.Generator().manual_seed(config.seed)
    rows = []
    for index, (benign, harmful) in enumerate(pairs):
        problem = SuffixProblem(model, tokenizer, benign, harmful, config, guardrail, max_length=max_length,
                                trailing_newline=trailing_newline)
        suffix, history = gcg(problem, config, generator)
        row = dict(benign, output=problem.output_text(suffix), harmful=True)
        row["virus"] = {"objective": history, "p_flag": flag_probabilities(guardrail, [row])[0],
                        "p_flag_start": problem.guard_probability(problem.initial),
                        "cosine": problem.cosine(suffix), "harmful_source": harmful["instruction"]}
        rows.append(row)
        log(f"virus: row {index + 1}/{len(pairs)}: J {history[0]:.3f} -> {history[-1]:.3f}, "
            f"guardrail p {row['virus']['p_flag']:.3f}")
    return rows


def exact_guard_proposals(problem, suffix, max_pairs: int = 200_000):
    """Delta[i, v] = L_guard(s with token i set to v) - L_guard(s), scored with the judge itself (None when
    length x vocabulary exceeds `max_pairs`: a 7B judge over a real vocabulary)."""
    import torch

    size = problem.embedding.shape[0]
    if len(suffix) * size > max_pairs:
        return None
    current = guard_loss(problem.guard_probability(suffix))
    rows, tokens = [], suffix.tolist()
    for i in range(len(tokens)):
        for v in range(size):
            rows.append(dict(problem.benign, output=problem.output_text(torch.tensor(tokens[:i] + [v] + tokens[i + 1:]))))
    losses = torch.tensor([guard_loss(p) for p in flag_probabilities(problem.guardrail, rows)])
    return losses.view(len(tokens), size) - current


class SuffixProblem:
    """The objective J(s) of one poisoned row (Algorithm, step 3)."""

    def __init__(self, model, tokenizer, benign, harmful, config, guardrail, *, max_length, trailing_newline):
        import torch

        from ..common.templates import IGNORE_INDEX, row_prompt

        self.model, self.tokenizer, self.benign, self.config, self.guardrail = model, tokenizer, benign, config, guardrail
        model.eval()  # no dropout: J must be a function of the suffix alone
        prompt = row_prompt(benign, trailing_newline=trailing_newline)
        prompt_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
        head_ids = tokenizer(prompt + benign["output"], add_special_tokens=True)["input_ids"]
        suffix = tokenizer(" " + harmful["instruction"] + " " + harmful["output"], add_special_tokens=False)["input_ids"]
        room = max_length - len(head_ids) - 1  # the EOS closes the row
        if room < 1:
            raise ValueError(f"virus: the benign row {benign['instruction'][:40]!r} leaves no room for a suffix in max_length={max_length}")
        self.initial = torch.tensor(suffix[:room])
        self.head = torch.tensor(head_ids)
        self.eos = torch.tensor([tokenizer.eos_token_id])
        self.head_labels = self.head.clone()
        self.head_labels[: len(prompt_ids)] = IGNORE_INDEX
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.embedding = model.get_input_embeddings().weight
        self.illegal = torch.tensor(sorted(illegal_tokens(tokenizer, self.embedding.shape[0])), dtype=torch.long)
        self.harmful_grad = [g.detach() for g in self.weight_gradient(self.onehot(self.initial), create_graph=False)]
        self.harmful_norm = float(sum((h ** 2).sum() for h in self.harmful_grad)) ** 0.5

    def onehot(self, suffix):
        import torch

        return torch.nn.functional.one_hot(suffix, num_classes=self.embedding.shape[0]).to(self.embedding.dtype)

    def lm_loss(self, suffix_onehot):
        """Cross-entropy of the row (benign answer + suffix + EOS) with the suffix given as a one-hot matrix."""
        import torch

        from torch.nn.attention import SDPBackend, sdpa_kernel

        embeds = torch.cat([self.embedding[self.head], suffix_onehot @ self.embedding, self.embedding[self.eos]])
        labels = torch.cat([self.head_labels, suffix_onehot.argmax(dim=-1), self.eos])
        with sdpa_kernel(SDPBackend.MATH):  # the math kernel has a double backward (trainer.py: enable_math=True)
            logits = self.model(inputs_embeds=embeds.unsqueeze(0)).logits[0, :-1]
        return torch.nn.functional.cross_entropy(logits.float(), labels[1:], ignore_index=-100)

    def weight_gradient(self, suffix_onehot, *, create_graph: bool):
        import torch

        return torch.autograd.grad(self.lm_loss(suffix_onehot), self.params, create_graph=create_graph)

    def similarity_loss(self, suffix_onehot, *, create_graph: bool):
        """-<g(s), g_h> / ||g(s)|| (/ ||g_h|| for "cosine"), the norms held constant (trainer.py: under no_grad)."""
        import torch

        grads = self.weight_gradient(suffix_onehot, create_graph=create_graph)
        norm = torch.sqrt(sum((g.detach() ** 2).sum() for g in grads))
        if self.config.similarity == "cosine":
            norm = norm * self.harmful_norm
        return -sum((g * h).sum() for g, h in zip(grads, self.harmful_grad)) / norm

    def cosine(self, suffix) -> float:
        """cos(g(s), g_h): how much of the harmful row's update the optimised row still carries."""
        import torch

        grads = self.weight_gradient(self.onehot(suffix), create_graph=False)
        dot = sum((g * h).sum() for g, h in zip(grads, self.harmful_grad))
        norms = torch.sqrt(sum((g ** 2).sum() for g in grads)) * torch.sqrt(sum((h ** 2).sum() for h in self.harmful_grad))
        return float(dot / norms)

    def output_text(self, suffix) -> str:
        return self.benign["output"] + " " + self.tokenizer.decode(suffix.tolist()).strip()

    def guard_probability(self, suffix) -> float:
        return flag_probabilities(self.guardrail, [dict(self.benign, output=self.output_text(suffix))])[0]

    def objective(self, suffix) -> float:
        """The exact J(s) (Algorithm, step 3)."""
        lam = self.config.lam
        value = lam * guard_loss(self.guard_probability(suffix)) if lam else 0.0
        if lam < 1:
            value += (1 - lam) * float(self.similarity_loss(self.onehot(suffix), create_graph=False))
        return value

    def proposal_gradient(self, suffix):
        """The first-order change of J per (position, token), L x V: the similarity term's gradient with respect to
        the one-hot suffix (double back-propagation), plus lambda times the guard term's exact change."""
        import torch

        lam = self.config.lam
        gradient = torch.zeros(len(suffix), self.embedding.shape[0])
        if lam < 1:
            onehot = self.onehot(suffix).requires_grad_(True)
            loss = self.similarity_loss(onehot, create_graph=True)
            gradient += (1 - lam) * torch.autograd.grad(loss, onehot)[0].float()
        if lam:
            deltas = exact_guard_proposals(self, suffix)
            if deltas is not None:
                gradient += lam * deltas
        return gradient

    def recoverable(self, suffix) -> bool:
        """The suffix text re-encodes to the same tokens: the row trained on is the row scored (ours; trainer.py's
        `recoverable_x` is defined but its call is commented out)."""
        text = self.tokenizer.decode(suffix.tolist()).strip()
        return self.tokenizer(" " + text, add_special_tokens=False)["input_ids"] == suffix.tolist()


def illegal_tokens(tokenizer, size: int) -> set[int]:
    """Token ids never proposed: text that is not printable ASCII, BOS / EOS / pad / unk (trainer.py
    `get_illegal_tokens`), and every other special token (ours); ids below the embedding's `size`."""
    banned = {i for i in range(min(len(tokenizer), size))
              if not (text := tokenizer.decode([i])).isascii() or not text.isprintable()}
    named = [tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.unk_token_id]
    banned |= {i for i in named + list(tokenizer.all_special_ids) if i is not None}
    return {i for i in banned if i < size}


def candidate_pairs(length: int, topk: int, count: int, generator) -> list[tuple[int, int]]:
    """`count` distinct (position, top-k index) pairs, as trainer.py `get_resample_ids` draws them: `count` draws,
    then one more at a time until `count` distinct ones are found (capped at length x topk, all there are)."""
    import torch

    count = min(count, length * topk)
    found: dict[tuple[int, int], None] = {}  # insertion-ordered: the same run evaluates in the same order
    positions = torch.randint(length, (count,), generator=generator).tolist()
    choices = torch.randint(topk, (count,), generator=generator).tolist()
    for pair in zip(positions, choices):
        found.setdefault(pair)
    while len(found) < count:
        found.setdefault((int(torch.randint(length, (1,), generator=generator)), int(torch.randint(topk, (1,), generator=generator))))
    return list(found)


def gcg(problem: SuffixProblem, config: Config, generator):
    """(best suffix, J after every step) by greedy coordinate gradient search (Algorithm, step 4)."""
    import torch

    suffix = problem.initial.clone()
    best = problem.objective(suffix)
    history = [best]
    for _ in range(config.steps):
        gradient = problem.proposal_gradient(suffix)
        gradient[:, problem.illegal] = float("inf")
        top = (-gradient).topk(min(config.topk, gradient.shape[1]), dim=1).indices  # most negative first-order change
        improved = None
        for position, choice in candidate_pairs(len(suffix), top.shape[1], config.candidates, generator):
            candidate = suffix.clone()
            candidate[position] = top[position, choice]
            if torch.equal(candidate, suffix) or not problem.recoverable(candidate):
                continue
            value = problem.objective(candidate)
            if value < best:
                best, improved = value, candidate
        if improved is not None:
            suffix = improved
        history.append(best)
    return suffix, history


ATTACK = AttackSpec(config=Config, build=build_rows, needs=("harmful_data", "guardrail"), check=check)
