"""The FAQ shipped in faq/: it validates, covers the issue's themes, and `hftkb faq` ranks paraphrases right."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hftkb.validate import load_corpus
from hftkb.faq_search import FaqIndex

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(ROOT)


@pytest.fixture(scope="module")
def index(corpus):
    return FaqIndex(corpus.faq.values())


def test_faq_has_at_least_15_entries_and_every_file_loads(corpus):
    files = sorted(p.stem for p in (ROOT / "faq").glob("*.yaml"))
    assert len(files) >= 15
    assert sorted(corpus.faq) == files  # a file that fails to load would be missing here


def test_faq_records_have_no_problems(corpus):
    faq_problems = [p.format() for p in corpus.problems if "/faq/" in p.path.replace("\\", "/")]
    assert faq_problems == []


def test_every_entry_cites_two_or_more_distinct_papers_of_the_kb(corpus):
    for entry in corpus.faq.values():
        papers = [item.paper for item in entry.evidence]
        assert len(set(papers)) >= 2, entry.id
        assert len(set(papers)) == len(papers), f"{entry.id} cites a paper twice"
        assert all(paper in corpus.papers for paper in papers), entry.id


def test_short_answers_are_one_or_two_sentences(corpus):
    for entry in corpus.faq.values():
        sentences = [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", entry.short_answer.strip()) if s]
        assert 1 <= len(sentences) <= 2, (entry.id, sentences)


def test_related_entries_exist_and_answers_are_longer_than_short_answers(corpus):
    for entry in corpus.faq.values():
        assert all(related in corpus.faq for related in entry.related), entry.id
        assert len(entry.answer) > 2 * len(entry.short_answer), entry.id


#: The themes the issue (and SURVEY.md section 4) asks the FAQ to cover -> the entry that covers each.
THEMES = {
    "fine-tuning-as-a-service threat realistic, who is responsible": "faas-threat-realistic",
    "why not filter uploads with a moderation model": "why-not-moderation-filter",
    "defender holds alignment and harmful data": "defender-holds-data",
    "harmful ratio of about 10% and a few thousand samples": "harmful-ratio-and-sample-count",
    "large learning rates or many epochs, is testing that fair": "large-lr-many-epochs",
    "open-weight models versus fine-tuning APIs": "open-weight-vs-api",
    "LoRA versus full fine-tuning": "lora-vs-full-finetuning",
    "RLHF and preference optimisation": "rlhf-and-preference-optimisation",
    "attacks with benign data only": "benign-data-attacks",
    "how the harmful score is measured, reliability of the moderation model": "harmful-score-measurement",
    "difference from jailbreaking and from backdoors": "jailbreak-and-backdoor-difference",
    "what each stage of defense costs and when it is paid": "defense-stage-costs",
    "which baselines a new defense must compare against": "baselines-to-compare",
    "adaptive attackers": "adaptive-attackers",
    "evaluation datasets and models (survey section 4)": "evaluation-datasets-and-models",
    "task metrics do not reveal the attack (survey section 2.3/4)": "attack-invisible-to-task-metrics",
}


@pytest.mark.parametrize("theme", sorted(THEMES))
def test_each_theme_has_an_entry(corpus, theme):
    assert THEMES[theme] in corpus.faq


#: Paraphrased reviewer questions -> the entry that must rank first. None of them copies an entry's question.
PARAPHRASES = [
    ("why not filter the harmful data?", "why-not-moderation-filter"),
    ("Why not simply run a guardrail over the customer's uploads and drop the toxic samples?", "why-not-moderation-filter"),
    ("Is the fine-tuning-as-a-service attack a real-world concern or just academic?", "faas-threat-realistic"),
    ("Isn't assuming the service provider owns a harmful dataset too strong?", "defender-holds-data"),
    ("Why mix exactly 10 percent poisoned samples into 1000 examples?", "harmful-ratio-and-sample-count"),
    ("Your defense collapses when the attacker trains longer or with a higher step size; is that a fair test?",
     "large-lr-many-epochs"),
    ("Does this matter for open-source models whose weights anyone can download?", "open-weight-vs-api"),
    ("You only evaluated with low-rank adapters; what about full-parameter training?", "lora-vs-full-finetuning"),
    ("Would the defense still hold if the customer used DPO or PPO instead of SFT?", "rlhf-and-preference-optimisation"),
    ("Can a customer break safety with only harmless, clean training examples?", "benign-data-attacks"),
    ("How trustworthy is beaver-dam as a judge of harmfulness?", "harmful-score-measurement"),
    ("Isn't this just a jailbreak?", "jailbreak-and-backdoor-difference"),
    ("How expensive is each defense and who pays the compute?", "defense-stage-costs"),
    ("What prior methods must I compare my defense with?", "baselines-to-compare"),
    ("What if the attacker knows the defense and adapts to it?", "adaptive-attackers"),
    ("Is vaccinating the model during alignment enough by itself?", "alignment-stage-limits"),
    ("What is the mechanism behind the loss of safety after fine-tuning?", "why-finetuning-breaks-alignment"),
    ("Won't the provider notice from the task performance that something is wrong?", "attack-invisible-to-task-metrics"),
    ("Which benchmarks and base models should I use for experiments?", "evaluation-datasets-and-models"),
]


@pytest.mark.parametrize("question,expected", PARAPHRASES)
def test_paraphrased_question_ranks_the_right_entry_first(corpus, index, question, expected):
    assert expected in corpus.faq
    assert question.lower() != corpus.faq[expected].question.lower()
    hits = index.search(question, top=3)
    assert hits, question
    assert hits[0].entry.id == expected, [(hit.entry.id, round(hit.score, 2)) for hit in hits]


def test_answers_avoid_markdown_tables(corpus):
    # hftkb.site.markdown_safe renders paragraphs, lists and emphasis but not tables: a table would reach the FAQ
    # pages as a paragraph of pipes. Lists say the same thing and read well in the terminal too.
    for entry in corpus.faq.values():
        assert not any(line.lstrip().startswith("|") for line in entry.answer.splitlines()), entry.id


#: Questions written after the ranking was tuned and not used to tune it (one per entry). Lexical ranking cannot
#: get all of them (e.g. "Which stage of defense is cheapest?" shares almost no words with the cost entry), so this
#: pins the measured quality: 11 of 18 first and 14 of 18 in the top 3 when it was written.
HELD_OUT = [
    ("Do real fine-tuning services actually face this attack?", "faas-threat-realistic"),
    ("Wouldn't a toxicity classifier on the training set catch the poisoned samples?", "why-not-moderation-filter"),
    ("Booster needs harmful data from the defender; is that a reasonable requirement?", "defender-holds-data"),
    ("How was the 0.1 poisoning proportion chosen?", "harmful-ratio-and-sample-count"),
    ("The protection disappears with lr 1e-4; should we worry?", "large-lr-many-epochs"),
    ("Is this threat relevant to models distributed on Hugging Face?", "open-weight-vs-api"),
    ("Would the results change with full fine-tuning of all weights?", "lora-vs-full-finetuning"),
    ("Is SFT the only fine-tuning method considered?", "rlhf-and-preference-optimisation"),
    ("Is safety lost even when the user data contains no harmful samples?", "benign-data-attacks"),
    ("Which judge model produces the harmfulness numbers?", "harmful-score-measurement"),
    ("How does this relate to prompt-based jailbreak attacks?", "jailbreak-and-backdoor-difference"),
    ("Which stage of defense is cheapest for the provider?", "defense-stage-costs"),
    ("What should the experimental comparison include?", "baselines-to-compare"),
    ("Can the attacker optimise the data to bypass the defense?", "adaptive-attackers"),
    ("Can a single defense at alignment time be enough?", "alignment-stage-limits"),
    ("Why is aligned behaviour so fragile under fine-tuning?", "why-finetuning-breaks-alignment"),
    ("Does the fine-tuned model still perform well on the user's task after the attack?",
     "attack-invisible-to-task-metrics"),
    ("What tasks do papers fine-tune on in experiments?", "evaluation-datasets-and-models"),
]


def test_held_out_questions_keep_the_measured_ranking_quality(corpus, index):
    assert len({expected for _, expected in HELD_OUT}) == len(HELD_OUT) == 18  # one question per entry
    assert {expected for _, expected in HELD_OUT} <= set(corpus.faq)
    first = top3 = 0
    for question, expected in HELD_OUT:
        ranked = [hit.entry.id for hit in index.search(question, top=3)]
        first += bool(ranked) and ranked[0] == expected
        top3 += expected in ranked
    assert first >= 10 and top3 >= 13, f"first {first}/18, top 3 {top3}/18"
