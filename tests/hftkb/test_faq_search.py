"""hftkb.faq_search on fabricated entries: tokenizer, synonyms, BM25F field weights, ordering."""

from __future__ import annotations

import pytest

from hftkb.faq_search import FaqIndex, search, stem, tokenize
from hftkb.models import FaqEntry


def entry(entry_id: str, question: str, answer: str = "An answer.", short: str = "Short.", tags=()) -> FaqEntry:
    return FaqEntry(
        id=entry_id,
        question=question,
        short_answer=short,
        answer=answer,
        evidence=[{"paper": "paper-a-2024", "shows": "Something."}, {"paper": "paper-b-2024", "shows": "Else."}],
        tags=list(tags),
    )


def test_stem_brings_inflections_together():
    assert stem("filters") == stem("filtering") == stem("filtered") == stem("filter")
    assert stem("assume") == stem("assuming") == stem("assumed")
    assert stem("studies") == stem("study")
    assert stem("lora") == "lora"  # short or non-alphabetic words are left alone
    assert stem("0.1") == "0.1"


def test_tokenize_folds_the_fields_synonyms_into_one_token():
    assert tokenize("guardrail") == tokenize("moderation model") == tokenize("content filter") == ["moderation"]
    assert tokenize("learning rate") == tokenize("lr") == ["lr"]
    assert tokenize("fine-tuning") == tokenize("finetuning") == tokenize("fine tuning") == ["finetune"]
    assert tokenize("DPO") == tokenize("preference optimisation") == ["rlhf"]


def test_tokenize_drops_stop_words_and_handles_contractions_and_numbers():
    assert tokenize("Why is it that the") == []
    assert tokenize("Isn't 1,000 enough?") == ["1000", "enough"]
    assert tokenize("1,000 prompts") == tokenize("1000 prompts") == ["1000", "prompt"]
    assert "isn" not in tokenize("isn't it")


def test_longest_synonym_phrase_wins():
    # "harmful score" is a metric, not the word "harmful" followed by "score"
    assert tokenize("harmful score") == ["harmful_score"]
    assert tokenize("harmful data") == ["harmful", "data"]


def test_question_match_outranks_a_passing_mention_in_the_answer():
    entries = [
        entry("passing-mention", "How are models evaluated?", answer="We also mention the learning rate once."),
        entry("about-lr", "Why does a large learning rate hurt?"),
    ]
    hits = search("learning rate", entries)
    assert [hit.entry.id for hit in hits] == ["about-lr", "passing-mention"]
    assert hits[0].score > hits[1].score > 0
    assert hits[0].matched == ["lr"]


def test_synonym_in_the_question_finds_an_entry_written_with_another_spelling():
    entries = [entry("filter", "Why not use a moderation model on uploads?"), entry("other", "What is LoRA?")]
    assert [hit.entry.id for hit in search("can a guardrail screen the data", entries)] == ["filter"]


def test_tags_count():
    entries = [entry("tagged", "A question?", tags=["open_weight"]), entry("untagged", "Another question?")]
    assert [hit.entry.id for hit in search("open-weight models", entries)] == ["tagged"]


def test_no_match_gives_no_hits_and_top_limits():
    entries = [entry(f"entry-{i}", f"Question about lora number {i}?") for i in range(5)]
    assert search("completely unrelated words", entries) == []
    assert len(search("lora", entries, top=2)) == 2


def test_equal_scores_are_ordered_by_id_so_output_is_stable():
    entries = [entry("b-entry", "What about LoRA?"), entry("a-entry", "What about LoRA?")]
    hits = FaqIndex(entries).search("lora")
    assert [hit.entry.id for hit in hits] == ["a-entry", "b-entry"]
    assert hits[0].score == pytest.approx(hits[1].score)


def test_rare_terms_weigh_more_than_common_ones():
    entries = [
        entry("common-only", "Is harmful data harmful?"),
        entry("rare", "What about backdoor triggers and harmful data?"),
        entry("third", "Harmful data again?"),
    ]
    assert search("harmful backdoor", entries)[0].entry.id == "rare"


def test_stop_words_are_recognised_before_stemming():
    # "where" would stem to "wher" and "anyone" to "anyon": neither may leak into the query
    assert tokenize("where would anyone notice") == ["notice"]
    assert tokenize("Gemma2-9B and Qwen2") == ["gemma", "2", "9b", "qwen", "2"]


def test_a_concept_the_question_repeats_weighs_more():
    entries = [
        entry("costs", "What does a defense cost?"),
        entry("baselines", "Which baselines should I compare with?"),
    ]
    assert tokenize("memory, runtime and overhead compared with SFT") == ["cost", "cost", "cost", "baseline", "sft"]
    assert search("memory, runtime and overhead compared with SFT", entries)[0].entry.id == "costs"
    assert search("compared with what?", entries)[0].entry.id == "baselines"
