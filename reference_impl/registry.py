"""Registry of runnable methods: name -> module, paper record, stage.

Plain data, no torch import: `hftkb` reads it to link paper pages to their implementation and to check that
every registered method has a paper record (`hftkb validate`). Adding a method = one line here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    name: str
    module: str  # dotted path of the module that implements it
    stage: str  # taxonomy stage key: alignment | fine_tuning | post_fine_tuning (baselines: the stage they replace)
    paper: str | None = None  # id of the paper record in papers/ (None for the baselines)
    arxiv: str | None = None
    summary: str = ""


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("non_aligned", "reference_impl.baselines", "alignment", summary="Baseline: fine-tune the base model directly, no alignment."),
        Method("sft", "reference_impl.baselines", "alignment", summary="Baseline: align with plain SFT, then fine-tune with plain SFT."),
        Method("vaccine", "reference_impl.defenses.vaccine", "alignment", "vaccine-2024", "2402.01109", "Perturbation-aware alignment."),
        Method("booster", "reference_impl.defenses.booster", "alignment", "booster-2024", "2409.01586", "Attenuating harmful perturbation during alignment."),
        Method("t_vaccine", "reference_impl.defenses.t_vaccine", "alignment", "t-vaccine-2024", "2410.09760", "Vaccine on the safety-critical layers only, sampled by harmful-gradient norm."),
        Method("repnoise", "reference_impl.defenses.repnoise", "alignment", "repnoise-2024", "2405.14577", "Push harmful representations toward Gaussian noise at every layer."),
        Method("tar", "reference_impl.defenses.tar", "alignment", "tar-2024", "2408.00761", "Tamper-resistant training against simulated fine-tuning adversaries."),
        Method("lox", "reference_impl.defenses.lox", "alignment", "lox-2025", "2506.15606", "Extrapolate the top singular directions of the alignment update."),
        Method("lisa", "reference_impl.defenses.lisa", "fine_tuning", "lisa-2024", "2405.18641", "Lazy safety alignment: bi-state optimisation with a proximal term."),
        Method("antidote", "reference_impl.defenses.antidote", "post_fine_tuning", "antidote-2024", "2408.09600", "One-shot pruning of harmful weights after fine-tuning."),
        Method("safe_lora", "reference_impl.defenses.safe_lora", "post_fine_tuning", "safe-lora-2024", "2405.16833", "Project LoRA updates onto the alignment subspace."),
    ]
}
