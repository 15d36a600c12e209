"""PTST, "Pure Tuning, Safe Testing": fine-tune without a safety system prompt, serve with one.

Paper
-----
Lyu, Zhao, Gu, Yu, Goyal, Arora. *Keeping LLMs Aligned After Fine-tuning: The Crucial Role of Prompt
Templates* (NeurIPS 2024). Knowledge-base record ``ptst-2024``, arXiv 2402.18540; official code vfleaking/PTST
(``prompt_utils.py``).

Stage: **fine-tuning and inference**, a template policy only. Needs: nothing beyond the templates.

Algorithm
---------
(the paper and the official code named above)

1. Fine-tune with a template that has no safety system prompt: here the pipeline's plain Alpaca template, whose
   "system prompt" is its header line ("Below is an instruction that describes a task...", the paper's
   ``chat:alpaca`` style puts exactly this line in the system slot).
2. At test time build every prompt with a safety system prompt in that slot instead: the Llama-2 default safety
   system prompt (the paper's ``chat:llama``) or its short form (``chat:llama-short``), ``test_prompt``.

Step 1 is plain SFT, so the fine-tuning stage is SFT's own (same settings, same stage directory, reused when SFT
ran first): PTST changes only the evaluation prompts.

Cost: zero (the same training; a longer prompt at serving); ``make bench`` times its epoch against SFT's as a
check, and reports the serving prompts' length.

Deviations
----------
* The paper's test template also rewrites the user turn ("Question: {q}" in the Llama-2 chat format); here the
  Alpaca layout ("### Instruction: ... ### Response:") is kept and only the system line changes, so the
  comparison with SFT changes one thing: the safety system prompt.
* In the miniature world most words of the safety prompt are outside the word-level vocabulary ([UNK]); the world
  uses the short prompt (``method_configs``), since its training sequences are cut at 96 tokens.

Usage
-----
Command line::

    python -m reference_impl run config.yaml --method ptst --set method_config.test_prompt=llama-short
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reference_impl.common.method import MethodSpec, PromptTemplate

#: The Llama-2 chat models' default system prompt (Meta), as PTST's ``chat:llama`` template uses it.
LLAMA2_SYSTEM_PROMPT = (
    "You are a helpful, respectful and honest assistant. Always answer as helpfully as possible, while being safe. "
    "Your answers should not include any harmful, unethical, racist, sexist, toxic, dangerous, or illegal content. "
    "Please ensure that your responses are socially unbiased and positive in nature. If a question does not make "
    "any sense, or is not factually coherent, explain why instead of answering something not correct. If you don't "
    "know the answer to a question, please don't share false information."
)
#: Its first two sentences, PTST's ``chat:llama-short``.
LLAMA2_SHORT_SYSTEM_PROMPT = (
    "You are a helpful, respectful and honest assistant. Always answer as helpfully as possible, while being safe."
)
SAFETY_PROMPTS = {"llama": LLAMA2_SYSTEM_PROMPT, "llama-short": LLAMA2_SHORT_SYSTEM_PROMPT}


@dataclass(frozen=True)
class Config:
    """PTST's one setting: which safety system prompt serves."""

    test_prompt: str = field(default="llama", metadata={
        "help": "The test-time safety system prompt: 'llama' (Llama-2 default) or 'llama-short'.",
        "source": "2402.18540 and the official prompt_utils.py: chat:llama, the paper's main safe-testing template"})


def check_config(config: Config, context: object = None) -> None:
    if config.test_prompt not in SAFETY_PROMPTS:
        raise ValueError(f"ptst: test_prompt must be one of {', '.join(SAFETY_PROMPTS)}, got {config.test_prompt!r}")


def safe_testing(config: Config) -> PromptTemplate:
    """The test-time template (step 2): the safety system prompt in place of the Alpaca header."""
    return PromptTemplate(system=SAFETY_PROMPTS[config.test_prompt])


# train_template stays the plain Alpaca one (step 1): no safety system prompt while fine-tuning.
METHOD = MethodSpec(stage="fine_tuning", config=Config, check=check_config, eval_template=safe_testing, overhead=1.15)


# ==========================================================================================================
# DEFENSE LOGIC
# ==========================================================================================================
# Nothing below: the method is the pair of templates above; the fine-tuning is plain SFT.
