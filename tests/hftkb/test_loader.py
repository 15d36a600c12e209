"""The strict YAML loader (hftkb.yamlio) and the corpus API (hftkb.corpus)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from hftkb.corpus import read_corpus
from hftkb.validate import load_corpus
from hftkb.yamlio import LoadError, load_yaml, parse_yaml

REPO = Path(__file__).resolve().parents[2]


def codes(text: str) -> list[tuple[int, str]]:
    with pytest.raises(LoadError) as info:
        parse_yaml(text, "t.yaml")
    return [(p.line, p.code) for p in info.value.problems]


def test_plain_values_and_positions() -> None:
    data, pos = parse_yaml("id: a-2024\ndate: 2024-02-02\nlinks:\n  - kind: paper\n    url: https://x.org\ncount: 3\n")
    assert data == {"id": "a-2024", "date": dt.date(2024, 2, 2), "links": [{"kind": "paper", "url": "https://x.org"}], "count": 3}
    assert pos.line(("links", 0, "url")) == 5
    assert pos.line(("links", 0)) == 4
    assert pos.line(("links",), key=True) == 3
    assert pos.line(("links", 0, "missing")) == 4  # deepest known ancestor
    assert pos.plain[("count",)] == "3" and ("id",) not in pos.plain


def test_quoted_identifier_stays_text_and_unquoted_source_is_remembered() -> None:
    data, pos = parse_yaml("a: '2310.03690'\nb: 2310.03690\n")
    assert data == {"a": "2310.03690", "b": 2310.0369}
    assert pos.plain[("b",)] == "2310.03690"  # what was written, digit included


def test_duplicate_key_reports_both_lines() -> None:
    with pytest.raises(LoadError) as info:
        parse_yaml("a: 1\nb: 2\na: 3\n", "t.yaml")
    (problem,) = info.value.problems
    assert (problem.line, problem.code) == (3, "E106") and "first on line 1" in problem.message
    assert info.value.data == {"a": 1, "b": 2}  # the first value is kept for further checks


def test_nested_duplicate_key() -> None:
    assert codes("a:\n  x: 1\n  x: 2\n") == [(3, "E106")]


def test_anchor_alias_and_billion_laughs_are_refused_without_expansion() -> None:
    assert codes("a: &x 1\nb: *x\n") == [(1, "E107")]
    laughs = "a: &a [lol, lol]\n" + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9))
    assert codes(laughs) == [(1, "E107")]  # reported once, and nothing was expanded


def test_tags_are_refused() -> None:
    assert codes("a: !!python/object:os.system x\n") == [(1, "E108")]
    assert codes("a: !custom x\n") == [(1, "E108")]
    assert codes("!!map\na: 1\n") == [(1, "E108")]


def test_impossible_date_and_second_document() -> None:
    assert codes("a: 1\nd: 2024-02-30\n") == [(2, "E111")]
    assert codes("a: 1\n---\nb: 2\n") == [(2, "E112")]


def test_malformed_yaml_is_one_problem_with_a_line() -> None:
    assert codes("a: [1, 2\nb: 3\n")[0][1] == "E105"
    assert codes("a: 1\n b: 2\n") == [(2, "E105")]


def test_file_checks(tmp_path: Path) -> None:
    (tmp_path / "dir.yaml").mkdir()
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "bom.yaml").write_bytes("\ufeffa: 1\n".encode("utf-8"))
    (tmp_path / "latin.yaml").write_bytes(b"a: 1\nb: caf\xe9\n")
    for name, code, line in [("dir.yaml", "E101", 0), ("empty.yaml", "E104", 0), ("latin.yaml", "E103", 2), ("none.yaml", "E101", 0)]:
        with pytest.raises(LoadError) as info:
            load_yaml(tmp_path / name)
        assert [(p.code, p.line) for p in info.value.problems] == [(code, line)]
    assert load_yaml(tmp_path / "bom.yaml")[0] == {"a": 1}


def test_symlink_inside_the_kb_is_fine_outside_is_not(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "real.yaml").write_text("a: 1\n")
    (kb / "inside.yaml").symlink_to(kb / "real.yaml")
    (tmp_path / "secret.yaml").write_text("a: 2\n")
    (kb / "outside.yaml").symlink_to(tmp_path / "secret.yaml")
    assert load_yaml(kb / "inside.yaml", kb)[0] == {"a": 1}
    with pytest.raises(LoadError) as info:
        load_yaml(kb / "outside.yaml", kb)
    assert info.value.problems[0].code == "E109"


def test_corpus_api_on_the_committed_kb() -> None:
    corpus = load_corpus(REPO)
    assert list(corpus.papers) == sorted(corpus.papers)
    assert corpus.paths["vaccine-2024"] == REPO / "papers" / "vaccine-2024.yaml"
    assert set(corpus.taxonomy) >= {"kinds", "stages", "sub_families", "venues", "relation_types"}
    assert corpus.taxonomy["sub_families"]["alignment_data_mixing"].parent == "fine_tuning"
    sources = {source for source, relation in corpus.reverse_relations("vaccine-2024")}
    assert {"booster-2024", "t-vaccine-2024"} <= sources
    assert all(r.target == "vaccine-2024" for _, r in corpus.reverse_relations("vaccine-2024"))
    assert corpus.reverse_relations("no-such-paper") == []
    assert corpus.venue_aliases()["neurips"] == "neurips"


def test_a_broken_record_is_left_out_and_not_blamed_twice(tmp_path: Path) -> None:
    shutil.copytree(REPO / "taxonomy", tmp_path / "taxonomy")
    (tmp_path / "papers").mkdir()
    (tmp_path / "papers" / "a-2024.yaml").write_text("id: a-2024\ntitle: A\ndate: 2024-01-01\nkind: defense\nadded: 2024-01-02\n"
                                                     "relations:\n  - type: extends\n    target: b-2024\n")
    (tmp_path / "papers" / "b-2024.yaml").write_text("id: b-2024\ntitle: [B\n")
    corpus = load_corpus(tmp_path)
    assert list(corpus.papers) == ["a-2024"]
    assert [p.code for p in corpus.problems] == ["E105"]  # no E303 for the relation to the broken record


def test_duplicate_key_and_other_problems_in_one_file_are_all_reported(tmp_path: Path) -> None:
    shutil.copytree(REPO / "taxonomy", tmp_path / "taxonomy")
    (tmp_path / "papers").mkdir()
    (tmp_path / "papers" / "a-2024.yaml").write_text(
        "id: a-2024\ntitle: A\ndate: 2024-01-01\nkind: defense\nkind: attack\nadded: 2024-01-02\ntitel: x\n")
    corpus = load_corpus(tmp_path)
    assert [(p.line, p.code) for p in corpus.problems] == [(5, "E106"), (7, "E202")]
    assert corpus.papers == {}


def test_parse_cache_hits_only_identical_text(tmp_path: Path) -> None:
    from hftkb.yamlio import ParseCache

    record = tmp_path / "a.yaml"
    record.write_text("a: '2310.03690'\nb: 1\n")
    cache = ParseCache(tmp_path / "cache.pickle")
    first = load_yaml(record, tmp_path, cache)
    cache.save()
    warm = ParseCache(tmp_path / "cache.pickle")
    assert load_yaml(record, tmp_path, warm)[0] == first[0] == {"a": "2310.03690", "b": 1}
    assert warm.get(next(iter(warm._new))) is not None  # it was a hit
    record.write_text("a: '2310.03690'\nb: 2\n")  # an edit: a new digest, parsed afresh
    assert load_yaml(record, tmp_path, warm)[0] == {"a": "2310.03690", "b": 2}
    record.write_text("a: 1\na: 2\n")  # problems are never cached: every run reports them
    for _ in range(2):
        with pytest.raises(LoadError):
            load_yaml(record, tmp_path, warm)
    (tmp_path / "cache.pickle").write_bytes(b"not a pickle")
    assert ParseCache(tmp_path / "cache.pickle")._old == {}  # an unreadable cache is ignored


def test_large_corpus_uses_the_cache_and_still_reports_problems(tmp_path: Path, monkeypatch) -> None:
    import hftkb.corpus

    monkeypatch.setattr(hftkb.corpus, "CACHE_MIN_FILES", 2)
    shutil.copytree(REPO / "taxonomy", tmp_path / "taxonomy")
    (tmp_path / "papers").mkdir()
    for name in ("a-2024", "b-2024"):
        (tmp_path / "papers" / f"{name}.yaml").write_text(f"id: {name}\ntitle: {name}\ndate: 2024-01-01\nkind: defense\nadded: 2024-01-02\n")
    assert load_corpus(tmp_path).problems == []
    assert (tmp_path / ".cache" / "hftkb-parse.pickle").is_file()
    (tmp_path / "papers" / "b-2024.yaml").write_text("id: b-2024\ntitle: b\ndate: 2024-01-01\nkind: defence\nadded: 2024-01-02\n")
    assert [(p.code, p.line) for p in load_corpus(tmp_path).problems] == [("E304", 4)]


# The quick parser (clean files, no positions) and the parallel loader must agree with the strict one.

QUICK_CASES = [
    "id: a-2024\ndate: 2024-02-02\nyear: 2024\nzero: 0\noctal: 007\nnine: 09\nsexa: 12:30\nflag: yes\nnone: ~\n",
    "a: '2310.03690'\nb: 2310.03690\nc: [1, 2.5, x]\nd: {e: f}\nlong: 123456789012345678901234567890\n",
    "text: >-\n  folded\n  text\nlit: |\n  line 1\n  line 2\n",
    "odd date: 2024-1-5\nspaced date: 2024-01-05 \n",
]
BAD_CASES = [
    "a: 1\na: 2\n", "a: &x 1\nb: *x\n", "a: !custom x\n", "a: 2024-02-30\n", "a: 1\n---\nb: 2\n", "# only\n",
    "[1, 2]: x\n", "a: [1, 2\n", "!!map\na: 1\n",
]


@pytest.mark.parametrize("text", QUICK_CASES)
def test_quick_parse_builds_the_same_data_as_the_strict_parse(text: str) -> None:
    from hftkb.yamlio import _quick_parse

    quick, strict = _quick_parse(text), parse_yaml(text)[0]
    assert quick == strict and [type(v) for v in quick.values()] == [type(v) for v in strict.values()]


@pytest.mark.parametrize("text", BAD_CASES)
def test_quick_parse_leaves_every_problem_to_the_strict_parse(text: str) -> None:
    from hftkb.yamlio import _NeedsFullParse, _quick_parse

    with pytest.raises(_NeedsFullParse):
        _quick_parse(text)
    with pytest.raises(LoadError):
        parse_yaml(text)


def test_positions_of_a_quick_load_are_worked_out_when_asked(tmp_path: Path) -> None:
    record = tmp_path / "a.yaml"
    record.write_text("id: a-2024\nlinks:\n  - kind: paper\n    url: https://x.org\ncount: 3\n")
    data, pos = load_yaml(record)
    assert data["count"] == 3
    assert pos.line(("links", 0, "url")) == 4 and pos.plain[("count",)] == "3"


def test_parallel_load_reports_exactly_what_a_serial_load_reports(tmp_path: Path, monkeypatch) -> None:
    import hftkb.corpus

    shutil.copytree(REPO / "taxonomy", tmp_path / "taxonomy")
    papers = tmp_path / "papers"
    papers.mkdir()
    for i in range(12):
        (papers / f"p-{i}.yaml").write_text(f"id: p-{i}\ntitle: Paper {i}\ndate: 2024-01-0{1 + i % 9}\nkind: defense\nadded: 2024-02-01\n")
    (papers / "p-3.yaml").write_text("id: p-3\ntitle: x\ntitle: y\ndate: 2024-01-01\nkind: defense\nadded: 2024-02-01\n")  # E106
    (papers / "p-5.yaml").write_text("id: p-5\ntitle: Five\ndate: 2024-02-30\nkind: defense\nadded: 2024-02-01\n")  # E111
    (papers / "p-7.yaml").write_text("id: p-7\ntitle: Seven\ndate: 2024-01-01\nkind: defence\nadded: 2024-02-01\n")  # E304
    (papers / "p-8.yaml").write_bytes(b"id: p-8\ntitle: \xff\n")  # E103
    (papers / "p-9.yaml").write_text("id: p-9\ntitle: Nine\ndate: 2024-01-01\nkind: defense\nadded: 2024-02-01\ntitel: x\n")  # E202
    monkeypatch.setattr(hftkb.corpus, "CACHE_MIN_FILES", 2)
    import hftkb.yamlio

    pools = []
    real = hftkb.yamlio._parse_in_workers
    monkeypatch.setattr(hftkb.yamlio, "_parse_in_workers", lambda *a: pools.append(a[3]) or real(*a))
    runs = {}
    for workers in ("1", "2"):
        monkeypatch.setenv("HFTKB_WORKERS", workers)
        for cache in ("off", "cold", "warm"):
            if cache == "off":
                monkeypatch.setenv("HFTKB_NO_CACHE", "1")
            else:
                monkeypatch.delenv("HFTKB_NO_CACHE", raising=False)
            if cache == "cold":
                shutil.rmtree(tmp_path / ".cache", ignore_errors=True)
            for threshold in (2, 1000):  # parallel (and cached) from 2 files on, or the small-corpus path
                monkeypatch.setattr(hftkb.corpus, "PARALLEL_MIN_FILES", threshold)
                corpus = load_corpus(tmp_path)
                runs[(workers, cache, threshold)] = ([p.format() for p in corpus.problems], corpus.papers)
    expected = runs[("1", "off", 1000)]
    assert sorted(p.code for p in corpus.problems) == ["E103", "E106", "E111", "E202", "E304"]
    assert sorted(expected[1]) == [f"p-{i}" for i in (0, 1, 10, 11, 2, 4, 6, 7)]
    for key, run in runs.items():
        assert run == expected, key
    assert pools == [1, 1, 1]  # a worker process was used (once per cache state) besides this one


def test_a_null_document_is_reported_not_skipped(tmp_path: Path) -> None:
    shutil.copytree(REPO / "taxonomy", tmp_path / "taxonomy")
    (tmp_path / "papers").mkdir()
    (tmp_path / "papers" / "a-2024.yaml").write_text("~\n")
    (tmp_path / "taxonomy" / "tags.yaml").write_text("null\n")
    corpus = load_corpus(tmp_path)
    assert [(Path(p.path).name, p.line, p.code) for p in corpus.problems] == [("a-2024.yaml", 1, "E110"), ("tags.yaml", 1, "E110")]


@pytest.mark.parametrize("label, venue, track", [
    ("Advances in Neural Information Processing Systems 37", "neurips", "main"),
    ("Proceedings of the 62nd Annual Meeting of the Association for Computational Linguistics", "acl", "main"),
    # A long name must not swallow the conference it introduces: Findings of EMNLP stay EMNLP.
    ("Findings of the Association for Computational Linguistics: EMNLP 2024", "emnlp", "findings"),
    ("Findings of the Association for Computational Linguistics: ACL 2023", "acl", "findings"),
    ("Proceedings of the 2024 Conference of the North American Chapter of the Association for Computational "
     "Linguistics: Human Language Technologies", "naacl", "main"),
    ("The Thirteenth International Conference on Learning Representations", "iclr", "main"),
    ("Proceedings of the AAAI Conference on Artificial Intelligence", "aaai", "main"),
])
def test_long_venue_names_resolve_through_the_taxonomy(label: str, venue: str, track: str) -> None:
    from hftkb.importers.awesome import normalise_venue

    aliases = read_corpus(REPO).venue_aliases()
    found = normalise_venue(label, aliases)
    assert (found.name, found.track) == (venue, track)


def test_a_threaded_process_is_never_forked(tmp_path: Path, monkeypatch) -> None:
    import multiprocessing
    import threading

    from hftkb.yamlio import load_yaml_many

    files = []
    for i in range(3):
        files.append(tmp_path / f"{i}.yaml")
        files[-1].write_text(f"n: {i}\n")
    monkeypatch.setattr(multiprocessing, "get_context", lambda *a: pytest.fail("a threaded process was forked"))
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        results = list(load_yaml_many(files, tmp_path, None, workers=2))
    finally:
        stop.set()
        thread.join()
    assert [data for data, _ in results] == [{"n": 0}, {"n": 1}, {"n": 2}]
