"""Rank the reviewer FAQ for a free-text question (used by `hftkb faq`).

Lexical ranking only: BM25F (Robertson & Zaragoza, "The Probabilistic Relevance Framework: BM25 and Beyond",
2009, section 3.4) over each entry's fields, after mapping the field's many spellings of one idea ("guardrail",
"moderation model", "content filter") to one token. No network, no language model: the same question always
gets the same ranking, and a contributor can see why an entry ranked where it did (`Hit.matched`).

Pipeline for a text (entry field or question):
  1. lower-case, split into words and numbers ("fine-tuning" -> "fine", "tuning"; "1,000" -> "1000");
  2. light suffix stemming ("filters", "filtering", "filtered" -> "filter");
  3. synonym phrases -> one canonical token, longest phrase first ("learning rate" -> "lr");
  4. other words kept unless they are stop words ("where", "why", "the").
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from hftkb.models import FaqEntry

# ---------------------------------------------------------------------------------------------------------
# Vocabulary of the field

#: canonical token -> the ways papers and reviewers say it. Phrases are matched on stemmed tokens, so plurals and
#: "-ing" forms need no entry of their own. The canonical token also counts as a spelling of itself.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "finetune": ("fine tune", "fine tuning", "finetuning", "fine tuned", "finetuned", "customisation",
                 "customization", "customise", "customize", "train on user data", "further training"),
    "moderation": ("moderation model", "moderator", "guardrail", "guard rail", "guard model", "content filter",
                   "filter", "filtration", "llama guard", "safety classifier", "screen", "screening", "sanitise",
                   "sanitize", "detect harmful data", "data filter", "scan", "inspect", "inspection"),
    "harmful": ("malicious", "unsafe", "toxic", "poisoned", "poison", "harm"),
    "jailbreak": ("jailbreaking", "jail break", "adversarial prompt", "prompt attack", "gcg"),
    "backdoor": ("trojan", "trigger", "sleeper agent"),
    "data_poisoning": ("data poisoning", "poisoning attack", "training data poisoning"),
    "lora": ("low rank adaptation", "low rank adapter", "adapter", "peft", "parameter efficient"),
    "full_ft": ("full fine tune", "full parameter", "full finetune", "all parameter", "all weights",
                "full model fine tune"),
    "rlhf": ("reinforcement learning from human feedback", "preference optimisation", "preference optimization",
             "preference learning", "dpo", "ppo", "reward model", "grpo", "rl fine tune", "rlvr",
             "reinforcement learning"),
    "open_weight": ("open weight", "open weights", "open source model", "open model", "open access",
                    "released weights", "downloadable weights", "local fine tune", "weights are public",
                    "tamper", "tamper resistance", "tamper resistant"),
    "api": ("fine tuning api", "finetuning api", "fine tuning as a service", "faas", "as a service",
            "cloud provider", "openai api", "hosted"),
    "provider": ("service provider", "vendor", "platform", "company", "operator", "defender"),
    "responsible": ("responsibility", "liable", "liability", "accountable", "accountability", "blame", "at fault"),
    "realistic": ("realism", "real world", "practical", "plausible", "happen in practice", "real threat",
                  "actually happen"),
    "ratio": ("harmful ratio", "poison ratio", "poisoning ratio", "proportion", "fraction", "percentage",
              "percent", "share of harmful", "how much harmful", "mixing ratio"),
    "sample_count": ("number of samples", "sample number", "dataset size", "data size", "how many samples",
                     "how many examples", "few thousand", "n 1000", "1000 samples", "5000 samples"),
    "sample": ("example", "data point", "datapoint", "training instance"),
    "lr": ("learning rate", "step size"),
    "epoch": ("training longer", "train longer", "longer training", "more steps", "training steps", "more epochs",
              "number of epochs", "many epochs", "long training", "training duration"),
    "hyperparameter": ("hyper parameter", "training setting", "training configuration", "training config"),
    "harmful_score": ("harmful score", "harmfulness score", "harmfulness", "hs", "attack success rate", "asr",
                      "refusal rate", "how harmful"),
    "judge": ("evaluator", "beaver dam", "beaverdam", "gpt 4 judge", "llm judge", "classifier judge",
              "measured", "measure", "metric", "scoring", "scored"),
    "accuracy": ("fine tune accuracy", "finetune accuracy", "task accuracy", "task performance", "utility",
                 "helpfulness", "fa"),
    "cost": ("overhead", "expensive", "compute", "computation", "gpu memory", "memory", "runtime", "clock time",
             "extra passes", "efficiency", "cheap", "price", "budget"),
    "baseline": ("compare", "comparison", "competitor", "prior defense", "prior method", "prior work",
                 "existing defense", "existing method", "state of the art", "sota"),
    "adaptive": ("adaptive attacker", "adaptive attack", "adaptive adversary", "attacker who knows",
                 "knows the defense", "aware of the defense", "white box attacker", "stronger attacker",
                 "evade the defense", "bypass the defense", "circumvent"),
    "benign": ("benign data", "clean data", "harmless data", "innocent data", "benign only", "only benign",
               "no harmful data", "without harmful", "non harmful", "identity shift", "benign sample"),
    "alignment_data": ("alignment data", "alignment dataset", "safety data", "safety dataset", "refusal data",
                       "safe data", "safety demonstration", "alignment set", "guide data"),
    "break": ("undo", "erode", "erosion", "compromise", "degrade", "degradation", "subvert", "strip", "bypass safety",
              "remove safety", "breaks alignment", "unalign", "misalign", "fail", "reduce safety", "weaken",
              "hurt safety", "lower safety"),
    "standard": ("default", "usual", "common practice", "typical", "established", "convention", "conventional",
                 "commonly used"),
    "need": ("require", "requirement", "prerequisite", "depend on", "rely on"),
    "notice": ("noticed", "unnoticed", "detect the attack", "invisible", "stealthy", "stealth", "tell that",
               "reveal", "spot"),
    "drift": ("embedding drift", "representation drift", "forgetting", "catastrophic forgetting", "drift"),
    "mechanism": ("interpretability", "mechanistic", "explain", "explanation",
                  "root cause", "understand", "understanding"),
    "stage": ("fine tuning stage", "post fine tuning", "post fine tune", "post hoc", "when to defend", "timing"),
    "alignment_stage": ("alignment stage", "alignment time", "during alignment", "vaccinate", "vaccination",
                        "immunise", "immunize", "immunisation", "immunization", "harden the model"),
    "enough": ("sufficient", "suffice", "on its own", "by itself", "alone", "solve", "solved", "silver bullet"),
    "setup": ("experimental setup", "experimental setting", "experiment", "evaluation setup", "testbed",
              "benchmark", "which datasets", "which models", "what datasets", "what models", "which tasks"),
    "fair": ("fairness", "unfair", "reasonable", "justified", "justify", "legitimate", "valid assumption",
             "strong assumption", "assumption", "assume"),
}

#: Words too common in any question to separate one entry from another.
STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are aren as at be because been before being
    below between both but by can cannot could did do does doing don down during each few for from further had
    has have having he her here hers him his how i if in into is it its itself just me more most my no nor not
    now of off on once only or other ought our ours out over own same she should so some such than that the
    their theirs them then there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your yours yourself shall may might must ever
    e g i e vs versus etc really even get like make use us one many know ask asked add matter well also
    anyone anything something someone thing way still already simply et al""".split()
)

# ---------------------------------------------------------------------------------------------------------
# Text -> tokens

#: Words, and numbers with their unit ("7b", "0.1"); "gemma2" splits into "gemma" and "2".
_WORD = re.compile(r"[a-z]+|[0-9]+(?:\.[0-9]+)?[a-z]*")


def stem(word: str) -> str:
    """A deliberately small suffix stripper: plurals, -ing, -ed. Enough to make 'filters'/'filtering' meet."""
    if len(word) <= 3 or not word.isalpha():
        return word
    for suffix, replacement, min_stem in (("ies", "y", 3), ("sses", "ss", 2), ("ing", "", 4), ("ed", "", 4)):
        if word.endswith(suffix) and len(word) - len(suffix) >= min_stem:
            return word[: -len(suffix)] + replacement
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    # "assume"/"assuming"/"assumed" all become "assum"
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def _raw_words(text: str) -> list[str]:
    text = text.lower().replace("\u2019", "'").replace("n't", " not").replace("'s", "")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # "1,000" -> "1000"
    return _WORD.findall(text)


def _words(text: str) -> list[str]:
    return [stem(word) for word in _raw_words(text)]


def _build_phrase_table(synonyms: dict[str, Sequence[str]]) -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """first stemmed word -> [(stemmed phrase, canonical)], longest phrase first so it wins."""
    table: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for canonical, spellings in synonyms.items():
        for spelling in (canonical.replace("_", " "), *spellings):
            phrase = tuple(_words(spelling))
            if phrase:
                table.setdefault(phrase[0], []).append((phrase, canonical))
    for candidates in table.values():
        candidates.sort(key=lambda item: -len(item[0]))
    return table


_PHRASES = _build_phrase_table(SYNONYMS)


def tokenize(text: str) -> list[str]:
    """Stemmed words with the field's synonym phrases folded into their canonical token, stop words removed."""
    raw = _raw_words(text)
    words = [stem(word) for word in raw]
    tokens: list[str] = []
    i = 0
    while i < len(words):
        for phrase, canonical in _PHRASES.get(words[i], ()):
            if tuple(words[i : i + len(phrase)]) == phrase:
                tokens.append(canonical)
                i += len(phrase)
                break
        else:
            if raw[i] not in STOP_WORDS and words[i] not in STOP_WORDS:  # raw: "where" would stem to "wher"
                tokens.append(words[i])
            i += 1
    return tokens


# ---------------------------------------------------------------------------------------------------------
# BM25F

#: Field -> (weight, length normalisation b). The question says what an entry is about, so it counts most;
#: tags are few words chosen by hand; the long answer mentions many things in passing, so it counts least.
FIELDS: dict[str, tuple[float, float]] = {
    "question": (3.0, 0.5),
    "tags": (2.0, 0.3),
    "short_answer": (1.5, 0.5),
    "answer": (1.0, 0.75),
    "evidence": (0.5, 0.75),
}
K1 = 1.2


def entry_fields(entry: FaqEntry) -> dict[str, str]:
    """The searchable text of an entry, per field."""
    return {
        "question": entry.question,
        "tags": " ".join(tag.replace("_", " ").replace("-", " ") for tag in entry.tags),
        "short_answer": entry.short_answer,
        "answer": entry.answer,
        "evidence": " ".join(item.shows for item in entry.evidence),
    }


@dataclass
class Hit:
    entry: FaqEntry
    score: float
    matched: list[str] = field(default_factory=list)  # query tokens found in the entry, best first


class FaqIndex:
    """BM25F index over FAQ entries: build once, query many times."""

    def __init__(self, entries: Iterable[FaqEntry]):
        self.entries = list(entries)
        self._tf: list[dict[str, Counter[str]]] = []
        self._length: list[dict[str, int]] = []
        for entry in self.entries:
            tokens = {name: tokenize(text) for name, text in entry_fields(entry).items()}
            self._tf.append({name: Counter(toks) for name, toks in tokens.items()})
            self._length.append({name: len(toks) for name, toks in tokens.items()})
        count = max(len(self.entries), 1)
        self._average_length = {
            name: (sum(lengths[name] for lengths in self._length) / count) or 1.0 for name in FIELDS
        }
        document_frequency: Counter[str] = Counter()
        for fields in self._tf:
            document_frequency.update(set().union(*(counts.keys() for counts in fields.values())))
        # BM25's idf with +1 inside the log, so a term found in most entries still counts a little, never negatively.
        self._idf = {
            term: math.log(1 + (count - df + 0.5) / (df + 0.5)) for term, df in document_frequency.items()
        }

    def _weighted_tf(self, position: int, term: str) -> float:
        """BM25F pseudo-frequency: per-field counts, length-normalised, weighted, summed."""
        total = 0.0
        for name, (weight, b) in FIELDS.items():
            frequency = self._tf[position][name].get(term, 0)
            if frequency:
                normaliser = 1 - b + b * self._length[position][name] / self._average_length[name]
                total += weight * frequency / normaliser
        return total

    def search(self, question: str, top: int | None = None) -> list[Hit]:
        """Entries with a positive score, best first (ties broken by id, so the order is stable)."""
        # A term the question repeats in other words ("memory, runtime, overhead" -> cost x3) weighs more.
        query = Counter(tokenize(question))
        hits = []
        for position, entry in enumerate(self.entries):
            contributions = []
            for term, repeats in query.items():
                pseudo_tf = self._weighted_tf(position, term)
                if pseudo_tf:
                    contributions.append((repeats * self._idf[term] * pseudo_tf * (K1 + 1) / (K1 + pseudo_tf), term))
            if contributions:
                contributions.sort(reverse=True)
                hits.append(Hit(entry, sum(value for value, _ in contributions), [term for _, term in contributions]))
        hits.sort(key=lambda hit: (-hit.score, hit.entry.id))
        return hits if top is None else hits[:top]


def search(question: str, entries: Iterable[FaqEntry], top: int | None = None) -> list[Hit]:
    """One-shot convenience: index `entries` and rank them for `question`."""
    return FaqIndex(entries).search(question, top)
