"""`hftkb add` and the arXiv client, against recorded arXiv API answers served at the HTTP layer.

The `arxiv` package's own request and Atom-parsing code runs; only the transport is replaced
(contrib_helpers.ArxivReplay), so no test touches the network.
"""

from __future__ import annotations

import datetime as dt

import pytest
from contrib_helpers import VACCINE, install_replay, make_kb

from hftkb import arxiv_client
from hftkb.arxiv_client import ArxivUnavailable, BadArxivRef, fetch_arxiv, parse_arxiv_ref
from hftkb.cli import main
from hftkb.validate import load_corpus
from hftkb.ids import make_paper_id
from hftkb.yamlio import dump_record


# ---------------------------------------------------------------------------------------------------------
# Ids and URLs


@pytest.mark.parametrize(
    "ref,expected",
    [
        ("arxiv:2402.01109", "2402.01109"),
        ("arXiv:2402.01109v3", "2402.01109"),
        ("2402.01109", "2402.01109"),
        ("https://arxiv.org/abs/2402.01109", "2402.01109"),
        ("http://arxiv.org/abs/2402.01109v2", "2402.01109"),
        ("https://arxiv.org/pdf/2402.01109v2.pdf", "2402.01109"),
        ("https://arxiv.org/pdf/2402.01109", "2402.01109"),
        ("https://www.arxiv.org/abs/1706.03762/", "1706.03762"),
        ("hep-th/9901001", "hep-th/9901001"),
        ("arxiv:math.GT/0309136v1", "math.GT/0309136"),
        (" 2409.18169 ", "2409.18169"),
    ],
)
def test_parse_arxiv_ref_accepts_ids_and_urls(ref, expected):
    assert parse_arxiv_ref(ref) == expected


@pytest.mark.parametrize(
    "ref", ["", "arxiv:", "24x", "2402.011", "2413.01109", "https://example.org/abs/2402.01109", "arxiv:2402.01109; rm -rf /", "10.1234/x"]
)
def test_parse_arxiv_ref_rejects_malformed(ref):
    with pytest.raises(BadArxivRef, match="not an arXiv id"):
        parse_arxiv_ref(ref)


# ---------------------------------------------------------------------------------------------------------
# The client: parsing by the arxiv package, cache, back-off, offline


def test_fetch_parses_the_recorded_feed_and_caches_it(monkeypatch, tmp_path):
    replay = install_replay(monkeypatch, tmp_path)
    answer = fetch_arxiv(["2402.01109"])["2402.01109"]
    assert answer.title == "Vaccine: Perturbation-aware Alignment for Large Language Models against Harmful Fine-tuning Attack"
    assert answer.authors == ["Tiansheng Huang", "Sihao Hu", "Ling Liu"]
    assert answer.published == "2024-02-02" and answer.version == 6
    assert answer.primary_category == "cs.LG" and answer.comment.startswith("Rejected by ICML2024")
    assert len(replay.urls) == 1 and "id_list=2402.01109" in replay.urls[0]
    assert (tmp_path / "arxiv-cache" / "2402.01109.json").is_file()
    # Second time: from the cache, no request.
    assert fetch_arxiv(["2402.01109"])["2402.01109"] == answer
    assert len(replay.urls) == 1


def test_fetch_several_ids_in_one_request(monkeypatch, tmp_path):
    replay = install_replay(monkeypatch, tmp_path)
    answers = fetch_arxiv(["2405.18641", "2409.01586"])
    assert [a.title.split(":")[0] for a in answers.values()] == ["Lisa", "Booster"]
    assert len(replay.urls) == 1


def test_unknown_id_and_entry_without_date_are_none(monkeypatch, tmp_path):
    install_replay(monkeypatch, tmp_path)
    assert fetch_arxiv(["2501.99999"]) == {"2501.99999": None}
    assert fetch_arxiv(["2501.00004"]) == {"2501.00004": None}  # the package skips an entry without <published>


def test_backoff_on_429_and_503_then_success(monkeypatch, tmp_path):
    replay = install_replay(monkeypatch, tmp_path, statuses=[429, 503])
    monkeypatch.setattr(arxiv_client, "BACKOFF_S", 1.5)
    waits = []
    answer = fetch_arxiv(["2310.03693"], sleep=waits.append)["2310.03693"]
    assert answer.authors[0] == "Xiangyu Qi"
    assert waits == [1.5, 3.0]  # exponential back-off
    assert len(replay.urls) == 3


def test_gives_up_after_repeated_429_with_a_clear_message(monkeypatch, tmp_path):
    replay = install_replay(monkeypatch, tmp_path, statuses=[429] * 10)
    with pytest.raises(ArxivUnavailable, match=r"HTTP 429 \(rate limited.*4 times"):
        fetch_arxiv(["2310.03693"], sleep=lambda s: None)
    assert len(replay.urls) == arxiv_client.ATTEMPTS


def test_other_http_errors_are_not_retried(monkeypatch, tmp_path):
    replay = install_replay(monkeypatch, tmp_path, statuses=[400])
    with pytest.raises(ArxivUnavailable, match="HTTP 400"):
        fetch_arxiv(["2310.03693"], sleep=lambda s: None)
    assert len(replay.urls) == 1


def test_offline_is_one_clear_error_and_the_cache_still_answers(monkeypatch, tmp_path):
    install_replay(monkeypatch, tmp_path)
    fetch_arxiv(["2402.01109"])  # fills the cache
    install_replay(monkeypatch, tmp_path, offline=True)
    monkeypatch.setenv("HFTKB_ARXIV_CACHE", str(tmp_path / "arxiv-cache"))
    assert fetch_arxiv(["2402.01109"])["2402.01109"].title.startswith("Vaccine")
    with pytest.raises(ArxivUnavailable, match="offline"):
        fetch_arxiv(["2310.03693"])


# ---------------------------------------------------------------------------------------------------------
# The command


@pytest.fixture
def kb(tmp_path):
    return make_kb(tmp_path / "kb", {"vaccine-2024": VACCINE})


def test_add_writes_a_record_that_validates(monkeypatch, tmp_path, kb, capsys):
    install_replay(monkeypatch, tmp_path)
    code = main(["add", "--kb", str(kb), "arxiv:2310.03693", "--kind", "attack", "--attack-type", "harmful_data",
                 "--venue", "ICLR 2024", "--code", "https://github.com/LLM-Tuning-Safety/LLMs-Finetuning-Safety", "--tag", "lora"])
    out = capsys.readouterr()
    assert code == 0, out.err
    corpus = load_corpus(kb)
    assert corpus.problems == []
    # The project's id scheme (hftkb.ids): no short name before a colon, so the title's first words + year.
    paper_id = make_paper_id("Fine-tuning Aligned Language Models Compromises Safety, Even When Users Do Not Intend To!", 2023)
    assert paper_id.endswith("-2023") and paper_id.startswith("fine-tuning-aligned")
    path = kb / "papers" / f"{paper_id}.yaml"
    assert f"wrote {path}" in out.out
    paper = corpus.papers[paper_id]
    assert paper.date == dt.date(2023, 10, 5)
    assert paper.venue.name == "iclr" and paper.venue.year == 2024 and paper.venue.track == "main"
    assert paper.identifiers.arxiv == "2310.03693"
    assert [(l.kind, l.url) for l in paper.links] == [
        ("paper", "https://arxiv.org/abs/2310.03693"),
        ("code", "https://github.com/LLM-Tuning-Safety/LLMs-Finetuning-Safety"),
    ]
    assert paper.summary is None  # never the abstract: the contributor writes it
    assert path.read_text(encoding="utf-8") == dump_record(paper)  # canonical: `hftkb fmt --check` passes
    assert main(["validate", "--kb", str(kb)]) == 0


def test_add_from_url_takes_short_name_from_title_and_defaults_to_arxiv_preprint(monkeypatch, tmp_path, kb, capsys):
    install_replay(monkeypatch, tmp_path)
    assert main(["add", "--kb", str(kb), "https://arxiv.org/abs/2405.18641v2", "https://arxiv.org/pdf/2409.01586",
                 "--kind", "defense", "--stage", "fine_tuning"]) == 0
    corpus = load_corpus(kb)
    assert corpus.problems == []
    assert {"lisa-2024", "booster-2024"} <= set(corpus.papers)
    lisa = corpus.papers["lisa-2024"]
    assert lisa.short_name == "Lisa" and lisa.venue.name == "arxiv" and lisa.venue.track == "preprint"
    assert "--venue" in capsys.readouterr().err  # the "Accepted by NeurIPS2024" comment is shown as a hint


def test_add_refuses_a_paper_already_in_the_kb_without_a_request(monkeypatch, tmp_path, kb, capsys):
    replay = install_replay(monkeypatch, tmp_path)
    assert main(["add", "--kb", str(kb), "https://arxiv.org/abs/2402.01109v6", "--kind", "defense"]) == 1
    assert "already in the knowledge base as 'vaccine-2024'" in capsys.readouterr().err
    assert replay.urls == []
    assert sorted(p.name for p in (kb / "papers").iterdir()) == ["vaccine-2024.yaml"]


def test_add_refuses_same_title_under_another_id(monkeypatch, tmp_path, capsys):
    kb = make_kb(tmp_path / "kb", {"vaccine-2024": VACCINE.replace("  arxiv: '2402.01109'\n", "  openreview: lpXDZKiAnt\n")})
    install_replay(monkeypatch, tmp_path)
    assert main(["add", "--kb", str(kb), "2402.01109", "--kind", "defense"]) == 1
    assert "is already in the knowledge base as 'vaccine-2024' (the same title:" in capsys.readouterr().err


def test_add_malformed_id_is_one_line_and_no_request(monkeypatch, tmp_path, kb, capsys):
    replay = install_replay(monkeypatch, tmp_path)
    assert main(["add", "--kb", str(kb), "arxiv:2402.011", "--kind", "defense"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: 'arxiv:2402.011' is not an arXiv id")
    assert "Traceback" not in err and replay.urls == []


def test_add_needs_kind(monkeypatch, tmp_path, kb, capsys):
    install_replay(monkeypatch, tmp_path)
    assert main(["add", "--kb", str(kb), "2310.03693"]) == 2
    assert "--kind is required" in capsys.readouterr().err


def test_add_bad_taxonomy_term_writes_nothing(monkeypatch, tmp_path, kb, capsys):
    install_replay(monkeypatch, tmp_path)
    assert main(["add", "--kb", str(kb), "2310.03693", "--kind", "atack", "--tag", "Not A Tag"]) == 1
    err = capsys.readouterr().err
    assert "would not validate; nothing written" in err
    assert "tags.0" in err or "tags[0]" in err
    assert sorted(p.name for p in (kb / "papers").iterdir()) == ["vaccine-2024.yaml"]
    assert main(["add", "--kb", str(kb), "2310.03693", "--kind", "atack"]) == 1
    assert "E304 kind: 'atack' is not a term of taxonomy/kinds.yaml (did you mean 'attack'?)" in capsys.readouterr().err


def test_add_unknown_venue_is_a_usage_error(monkeypatch, tmp_path, kb, capsys):
    install_replay(monkeypatch, tmp_path)
    assert main(["add", "--kb", str(kb), "2310.03693", "--kind", "attack", "--venue", "neurip"]) == 2
    assert "did you mean neurips" in capsys.readouterr().err


def test_add_answer_without_authors_still_validates(monkeypatch, tmp_path, kb, capsys):
    install_replay(monkeypatch, tmp_path)
    assert main(["add", "--kb", str(kb), "2501.00002", "--kind", "analysis"]) == 0
    assert "lists no author" in capsys.readouterr().err
    corpus = load_corpus(kb)
    assert corpus.problems == [] and corpus.papers["fabricated-fixture-2025"].authors == []


def test_add_answer_with_accents_doi_and_markup(monkeypatch, tmp_path, kb):
    install_replay(monkeypatch, tmp_path)
    assert main(["add", "--kb", str(kb), "2501.00001", "--kind", "analysis"]) == 0
    corpus = load_corpus(kb)
    assert corpus.problems == []
    (paper,) = [p for p in corpus.papers.values() if p.identifiers.arxiv == "2501.00001"]
    assert paper.authors == ["José Müller", "Łukasz Ørsted"]
    assert paper.identifiers.doi == "10.1234/fixture.2025.1"
    assert paper.title == "Fabricated fixture: {Ünïcode} & <script> in a title"


def test_add_refuses_answer_without_title_and_unknown_ids(monkeypatch, tmp_path, kb, capsys):
    install_replay(monkeypatch, tmp_path)
    assert main(["add", "--kb", str(kb), "2501.00003", "--kind", "analysis"]) == 1
    assert "has no title" in capsys.readouterr().err
    assert main(["add", "--kb", str(kb), "2501.99999", "--kind", "analysis"]) == 1
    assert "arXiv has no paper arxiv:2501.99999" in capsys.readouterr().err
    assert sorted(p.name for p in (kb / "papers").iterdir()) == ["vaccine-2024.yaml"]


def test_add_offline_is_one_line(monkeypatch, tmp_path, kb, capsys):
    install_replay(monkeypatch, tmp_path, offline=True)
    assert main(["add", "--kb", str(kb), "2310.03693", "--kind", "attack"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "offline" in err


def test_add_dry_run_writes_nothing(monkeypatch, tmp_path, kb, capsys):
    install_replay(monkeypatch, tmp_path)
    assert main(["add", "--kb", str(kb), "2310.03693", "--kind", "attack", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run" in out and "arxiv: '2310.03693'" in out
    assert sorted(p.name for p in (kb / "papers").iterdir()) == ["vaccine-2024.yaml"]


def test_add_id_collision_gets_a_suffix(monkeypatch, tmp_path):
    other = VACCINE.replace("id: vaccine-2024", "id: lisa-2024").replace("Vaccine: Perturbation-aware", "Lisa: Another").replace("2402.01109", "2401.00001")
    kb = make_kb(tmp_path / "kb", {"lisa-2024": other})
    install_replay(monkeypatch, tmp_path)
    assert main(["add", "--kb", str(kb), "2405.18641", "2409.01586", "--kind", "defense"]) == 0
    assert load_corpus(kb).papers["lisa-2024-b"].identifiers.arxiv == "2405.18641"
