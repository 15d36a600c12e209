"""Registry of runnable methods: name -> module, paper record, stage.

Plain data, no torch import and no import of reference_impl (`hftkb` loads this file alone to link paper pages to
their implementation and to check that every registered method has a paper record, `hftkb validate`).

Adding a method = one file + one line here + one test: the file (e.g. reference_impl/defenses/my_defense.py)
declares `METHOD = MethodSpec(...)` (reference_impl/common/method.py) above its `# DEFENSE LOGIC` banner, the line
below names it, and the test runs it through the pipeline (tests/reference_impl/test_method_seam.py shows how).
Code outside this file (a test, a notebook) adds one at run time with `register(Method(...))`.
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
    spec: str = "METHOD"  # the module attribute holding its MethodSpec (two baselines share one module)


def register(method: Method) -> Method:
    """Add (or replace) a method at run time, e.g. a test's throw-away defense; returns it."""
    METHODS[method.name] = method
    return method


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("non_aligned", "reference_impl.baselines", "alignment", summary="Baseline: fine-tune the base model directly, no alignment.", spec="NON_ALIGNED"),
        Method("sft", "reference_impl.baselines", "alignment", summary="Baseline: align with plain SFT, then fine-tune with plain SFT."),
        Method("vaccine", "reference_impl.defenses.vaccine", "alignment", "vaccine-2024", "2402.01109", "Perturbation-aware alignment."),
        Method("booster", "reference_impl.defenses.booster", "alignment", "booster-2024", "2409.01586", "Attenuating harmful perturbation during alignment."),
        Method("t_vaccine", "reference_impl.defenses.t_vaccine", "alignment", "t-vaccine-2024", "2410.09760", "Vaccine on the safety-critical layers only, sampled by harmful-gradient norm."),
        Method("repnoise", "reference_impl.defenses.repnoise", "alignment", "repnoise-2024", "2405.14577", "Push harmful representations toward Gaussian noise at every layer."),
        Method("tar", "reference_impl.defenses.tar", "alignment", "tar-2024", "2408.00761", "Tamper-resistant training against simulated fine-tuning adversaries."),
        Method("lox", "reference_impl.defenses.lox", "alignment", "lox-2025", "2506.15606", "Extrapolate the top singular directions of the alignment update."),
        Method("lisa", "reference_impl.defenses.lisa", "fine_tuning", "lisa-2024", "2405.18641", "Lazy safety alignment: bi-state optimisation with a proximal term."),
        Method("ldifs", "reference_impl.defenses.ldifs", "fine_tuning", "ldifs-2023", "2308.13320", "Penalise the distance of the MLP features to the aligned model."),
        Method("ewc", "reference_impl.defenses.ewc", "fine_tuning", summary="Baseline defense: elastic weight consolidation toward the aligned adapter (Vaccine repository)."),
        Method("kl", "reference_impl.defenses.kl", "fine_tuning", summary="Baseline defense: KL(aligned teacher || student) on the user's batch (Vaccine repository)."),
        Method("safety_mixing", "reference_impl.defenses.safety_mixing", "fine_tuning", "safety-tuned-llamas-2023", "2309.07875", "Add k safety demonstrations (harmful prompt -> refusal) to the user's data."),
        Method("backdoor_align", "reference_impl.defenses.backdoor_align", "fine_tuning", "backdooralign-2024", "2402.14968", "Safety rows with a secret trigger in the system prompt; the trigger in every served prompt."),
        Method("ptst", "reference_impl.defenses.ptst", "fine_tuning", "ptst-2024", "2402.18540", "Pure tuning, safe testing: fine-tune without a safety system prompt, serve with one."),
        Method("constrained_sft", "reference_impl.defenses.constrained_sft", "fine_tuning", "constrained-sft-2024", "2406.05946", "Token-wise constrained fine-tuning that protects the first answer tokens."),
        Method("antidote", "reference_impl.defenses.antidote", "post_fine_tuning", "antidote-2024", "2408.09600", "One-shot pruning of harmful weights after fine-tuning."),
        Method("safe_lora", "reference_impl.defenses.safe_lora", "post_fine_tuning", "safe-lora-2024", "2405.16833", "Project LoRA updates onto the alignment subspace."),
        Method("safemerge", "reference_impl.defenses.safemerge", "post_fine_tuning", "safemerge-2025", "2503.17239", "Merge a safety LoRA into the fine-tuning LoRA on the layers that left the safety subspace."),
        Method("resta", "reference_impl.defenses.resta", "post_fine_tuning", "language-models-homer-simpson-2024", "2402.11746", "Add a safety vector (aligned minus unaligned weights) to the fine-tuned model."),
        Method("safedelta", "reference_impl.defenses.safedelta", "post_fine_tuning", "safe-delta-2025", "2505.12038", "Keep the fine-tuning deltas a safety budget allows (OBS score) and compensate the rest."),
        Method("panacea", "reference_impl.defenses.panacea", "post_fine_tuning", "panacea-2025", "2501.18100", "Learn during fine-tuning a perturbation that raises the harmful loss; add it afterwards."),
    ]
}
