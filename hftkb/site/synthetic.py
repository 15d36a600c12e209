"""Fabricated knowledge bases in the real record schema, for the site's tests and benchmark.

`make_kb(root, n_papers, hostile=True)` writes taxonomy/, papers/ and faq/ under `root` (records written by
`hftkb.yamlio.write_record`, so they are canonical and valid). With `hostile=True`, a few records and terms
carry the strings the site must neutralise: `<script>`, `onerror=`, Markdown `javascript:` links, Jinja
`{{ }}` / `{% %}`, pymdownx syntax. The corpus is deterministic (seeded), so test failures reproduce.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

#: Strings that would run script or inject markup if any page let them through unescaped.
HOSTILE_STRINGS = [
    "<script>alert('xss-title')</script>",
    '<img src=x onerror="alert(\'xss-img\')">',
    "[click me](javascript:alert('xss-md'))",
    "{{ config.site_name }} {% raw %}",
    '"><svg onload=alert(1)>',
    "--8<-- \"/etc/passwd\"",
    "{: onclick=\"alert('xss-attr')\" }",
]

TAXONOMY = {
    "kinds": [("attack", "Attack"), ("defense", "Defense"), ("analysis", "Analysis"), ("benchmark", "Benchmark"), ("survey", "Survey")],
    "stages": [("alignment", "Alignment stage"), ("fine_tuning", "Fine-tuning stage"), ("post_fine_tuning", "Post-fine-tuning stage")],
    "sub_families": [("distance_regularization", "Distance regularization", "fine_tuning"), ("alignment_data_mixing", "Alignment-data mixing", "fine_tuning")],
    "attack_types": [("harmful_data", "Harmful-data attack"), ("benign_data", "Benign-data attack")],
    "relation_types": [("extends", "extends", "extended by"), ("compares_to", "compares to", "compared against in")],
    "venues": [("neurips", "NeurIPS"), ("iclr", "ICLR"), ("icml", "ICML"), ("acl", "ACL"), ("arxiv", "arXiv")],
    "tags": [("lora", "LoRA"), ("federated", "Federated fine-tuning"), ("multimodal", "Multimodal models"), ("hostile", "Hostile tag")],
    "needs": [("alignment_data", "Alignment data"), ("harmful_data", "Harmful data")],
}

WORDS = (
    "safety alignment fine-tuning harmful data defense attack robust perturbation lazy booster vaccine antidote "
    "representation noise gradient projection subspace pruning refusal drift embedding guardrail moderation "
    "language model adapter low-rank distillation unlearning benign jailbreak tamper resistant"
).split()


def _taxonomy_yaml(vocabulary: str, hostile: bool) -> str:
    import json

    lines = []
    for entry in TAXONOMY[vocabulary]:
        key, name = entry[0], entry[1]
        description = f"Fabricated term {name} for tests."
        if hostile and key == "hostile":
            name = "Tag <script>alert('xss-term')</script>"
            description = HOSTILE_STRINGS[1] + " " + HOSTILE_STRINGS[3]
        lines.append(f"- id: {key}\n  name: {json.dumps(name)}\n  description: {json.dumps(description)}")
        if vocabulary == "sub_families":
            lines.append(f"  parent: {entry[2]}")
        if vocabulary == "relation_types":
            lines.append(f"  inverse: {json.dumps(entry[2])}")
    return "\n".join(lines) + "\n"


def _title(rng: random.Random, index: int) -> str:
    words = rng.sample(WORDS, 7)
    return f"{' '.join(words).capitalize()} for large language models {index}"


def make_papers(n_papers: int, *, hostile: bool = True, seed: int = 7) -> list:
    from hftkb.models import Paper

    rng = random.Random(seed)
    start = dt.date(2023, 1, 1)
    papers = []
    for index in range(n_papers):
        kind = rng.choices(["attack", "defense", "analysis", "benchmark", "survey"], [3, 6, 2, 1, 0.3])[0]
        stage = rng.choice(["alignment", "fine_tuning", "post_fine_tuning"]) if kind == "defense" else None
        date = start + dt.timedelta(days=rng.randrange(0, 1000))
        added = max(date, dt.date(2025, 1, 1)) + dt.timedelta(days=rng.randrange(0, 200))
        record = {
            "id": f"paper-{index:05d}",
            "title": _title(rng, index),
            "short_name": rng.choice([None, f"M{index}"]),
            "authors": [f"Author{rng.randrange(500)} Family{rng.randrange(500)}" for _ in range(rng.randrange(1, 6))],
            "date": date,
            "venue": {"name": rng.choice(["neurips", "iclr", "icml", "acl", "arxiv"]), "year": date.year}
            if rng.random() < 0.9 else None,
            "kind": kind,
            "stage": stage,
            "sub_family": rng.choice(["distance_regularization", "alignment_data_mixing"]) if stage == "fine_tuning" else None,
            "attack_type": rng.choice(["harmful_data", "benign_data"]) if kind == "attack" else None,
            "tags": sorted(set(rng.sample(["lora", "federated", "multimodal"], rng.randrange(0, 3)))),
            "identifiers": {"arxiv": f"{date.strftime('%y%m')}.{index:05d}"},
            "links": [{"kind": "paper", "url": f"https://arxiv.org/abs/{date.strftime('%y%m')}.{index:05d}"}]
            + ([{"kind": "code", "url": f"https://github.com/example/repo{index}"}] if rng.random() < 0.5 else []),
            "summary": " ".join(rng.choice(WORDS) for _ in range(45)).capitalize() + ".",
            "mechanism": " ".join(rng.choice(WORDS) for _ in range(30)).capitalize() + "." if kind == "defense" else None,
            "needs": ["alignment_data"] if kind == "defense" and rng.random() < 0.5 else [],
            "relations": [],
            "added": added,
            "source": "synthetic",
        }
        # A few relations to earlier papers, so the graph and reverse links have something to show.
        for _ in range(rng.choice([0, 0, 1, 2])):
            if index > 0:
                target = f"paper-{rng.randrange(0, index):05d}"
                if all(r["target"] != target for r in record["relations"]):
                    record["relations"].append({"type": rng.choice(["extends", "compares_to"]), "target": target})
        papers.append(record)
    _add_results(papers, random.Random(seed + 1))
    if hostile and papers:
        papers[0].update(
            title=HOSTILE_STRINGS[0] + " survives " + HOSTILE_STRINGS[3],
            short_name=HOSTILE_STRINGS[2],
            summary=" ".join(HOSTILE_STRINGS),
            mechanism=HOSTILE_STRINGS[4] + " " + HOSTILE_STRINGS[6],
            authors=[HOSTILE_STRINGS[1], "Plain Author"],
            tags=["hostile", "lora"],
            kind="defense",
            stage="fine_tuning",
            sub_family="alignment_data_mixing",
            attack_type=None,
            venue={"name": "neurips", "year": 2024, "note": HOSTILE_STRINGS[5]},
            results=[{"metric": "harmful_score", "value": 12.5, "model": "llama-2-7b", "task": "sst2",
                      "setting": HOSTILE_STRINGS[0], "table": HOSTILE_STRINGS[2], "note": HOSTILE_STRINGS[4]}],
            cost={"paid": "per_fine_tune", "passes_per_step": 2.0, "note": HOSTILE_STRINGS[3]},
        )
        if len(papers) > 1:
            papers[1]["relations"] = [{"type": "extends", "target": papers[0]["id"], "note": HOSTILE_STRINGS[1]}]
        # One person, several spellings (BibTeX order, LaTeX accents, case, an alias): each lands on one page.
        if len(papers) > 3:
            papers[1]["authors"] = ["Huang, Tiansheng", "Jos{\\'e} Garc{\\'i}a", "{Brace} Name"]
            papers[2]["authors"] = ["Tiansheng Huang", "José García", "P. Writer"]
            papers[3]["authors"] = ["tiansheng  huang", "Plain Author"]
    return [Paper.model_validate(record, strict=False) for record in papers]


MODELS = ["llama-2-7b", "gemma-2-9b", "qwen2-7b"]
TASKS = ["sst2", "gsm8k", "agnews"]

#: The result vocabularies of the fabricated knowledge base (taxonomy/{models,tasks,metrics,baselines}.yaml).
RESULT_TAXONOMY = {
    "models": [("llama-2-7b", "Llama-2-7B", ["Llama2-7B"]), ("gemma-2-9b", "Gemma-2-9B", []), ("qwen2-7b", "Qwen2-7B", [])],
    "tasks": [("sst2", "SST-2", ["SST2"]), ("gsm8k", "GSM8K", []), ("agnews", "AG News", []), ("none", "No benign task", [])],
    "metrics": [("harmful_score", "Harmful score", ["HS"], "lower"), ("finetune_accuracy", "Fine-tune accuracy", ["FA"], "higher"),
                ("attack_success_rate", "Attack success rate", ["ASR"], "lower")],
    "baselines": [("sft", "SFT (no defense)", ["SFT"]), ("no_finetune", "No fine-tuning", ["aligned"])],
}


def _result_taxonomy_yaml(vocabulary: str) -> str:
    import json

    lines = []
    for key, name, aliases, *direction in RESULT_TAXONOMY[vocabulary]:
        lines.append(f"- id: {key}\n  name: {json.dumps(name)}\n  aliases: {json.dumps(aliases)}")
        if direction:
            lines.append(f"  direction: {direction[0]}\n  unit: percent")
    return "\n".join(lines) + "\n"


def _add_results(papers: list[dict], rng: random.Random) -> None:
    """Reported numbers for defense papers, in the shapes the real records use: HS and FA with the SFT baseline
    of the same table, an SFT row, a number without a baseline, attack success rates. A separate generator, so
    the rest of the corpus is the same with or without them."""
    earlier: list[str] = []  # defenses with results so far: later tables re-run them as baselines
    for record in papers:
        if record["kind"] != "defense" or rng.random() < 0.3:
            continue
        model, task = rng.choice(MODELS), rng.choice(TASKS)
        results = []
        compared = earlier[-1:]  # a shared table: the latest defense re-run in this paper's first setting
        for ratio in rng.sample([0.05, 0.1, 0.2], rng.randrange(1, 3)):
            table = f"Table {rng.randrange(1, 6)}"
            sft_hs, sft_fa = round(rng.uniform(30, 80), 1), round(rng.uniform(70, 95), 1)
            hs, fa = round(sft_hs - rng.uniform(-3, 30), 1), round(sft_fa + rng.uniform(-6, 3), 1)
            common = {"model": model, "task": task, "harmful_ratio": ratio, "num_samples": 1000,
                      "harmful_data": "beavertails", "table": table}
            results.append({"metric": "harmful_score", "value": hs, "baseline": sft_hs, **common})
            results.append({"metric": "finetune_accuracy", "value": fa, "baseline": sft_fa, **common})
            results.append({"metric": "harmful_score", "value": sft_hs, "method": "sft", **common})
            for other in compared:
                results.append({"metric": "harmful_score", "value": round(sft_hs - rng.uniform(0, 20), 1),
                                "method": other, **common})
            compared = []
        if rng.random() < 0.4:
            results.append({"metric": "attack_success_rate", "value": round(rng.uniform(1, 40), 1), "model": model,
                            "task": "none", "setting": "average over attacks", "table": "Table 6"})
        record["results"] = results
        earlier.append(record["id"])


def make_faq(paper_ids: list[str], *, hostile: bool = True) -> list:
    from hftkb.models import FaqEntry

    if len(paper_ids) < 2:
        return []
    entries = [
        {
            "id": "is-the-threat-realistic",
            "question": "Is the fine-tuning-as-a-service threat realistic?",
            "short_answer": "Yes: an upload is all it takes.",
            "answer": "**Yes.** Fine-tuning APIs accept customer data.\n\n* one point\n* another point\n\nSee [the survey](https://arxiv.org/abs/2409.18169).",
            "evidence": [{"paper": paper_ids[0], "shows": "It shows the attack."}, {"paper": paper_ids[1], "shows": "It shows it again."}],
            "related": ["hostile-question"] if hostile else [],
            "tags": ["lora"],
        }
    ]
    if hostile:
        entries.append(
            {
                "id": "hostile-question",
                "question": "Does <script>alert('xss-faq')</script> run?",
                "short_answer": HOSTILE_STRINGS[1],
                "answer": "\n\n".join(HOSTILE_STRINGS) + "\n\n[js link](javascript:alert('xss-faq-link')) and "
                "![img](javascript:alert(1)) and <b onmouseover=alert(1)>bold</b>",
                "evidence": [{"paper": paper_ids[0], "shows": HOSTILE_STRINGS[3]}, {"paper": paper_ids[1], "shows": "Plain."}],
                "related": ["is-the-threat-realistic"],
                "tags": ["hostile"],
            }
        )
    return [FaqEntry.model_validate(entry, strict=False) for entry in entries]


def make_kb(root: Path, n_papers: int, *, hostile: bool = True, seed: int = 7) -> Path:
    """Write a fabricated knowledge base with `n_papers` records under `root`; returns `root`."""
    from hftkb.yamlio import write_record

    root = Path(root)
    (root / "taxonomy").mkdir(parents=True, exist_ok=True)
    (root / "papers").mkdir(exist_ok=True)
    (root / "faq").mkdir(exist_ok=True)
    for vocabulary in TAXONOMY:
        (root / "taxonomy" / f"{vocabulary}.yaml").write_text(_taxonomy_yaml(vocabulary, hostile), encoding="utf-8")
    for vocabulary in RESULT_TAXONOMY:
        (root / "taxonomy" / f"{vocabulary}.yaml").write_text(_result_taxonomy_yaml(vocabulary), encoding="utf-8")
    papers = make_papers(n_papers, hostile=hostile, seed=seed)
    for paper in papers:
        write_record(root / "papers" / f"{paper.id}.yaml", paper)
    for entry in make_faq([p.id for p in papers[:2]], hostile=hostile):
        write_record(root / "faq" / f"{entry.id}.yaml", entry)
    if hostile:  # the curated alias file (hftkb.site.authors): "P. Writer" is "Plain Author"
        (root / "taxonomy" / "author_aliases.yaml").write_text(
            "- name: Plain Author\n  aliases:\n    - P. Writer\n", encoding="utf-8")
    return root
