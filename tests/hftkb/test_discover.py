"""`hftkb discover` and `hftkb add --from-triage`, against recorded arXiv search answers served at the HTTP layer.

The recorded searches are tests/fixtures/arxiv/search/*.xml (fabricated papers, see its README): the `arxiv`
package builds the requests and parses the feeds; only the transport is replaced (contrib_helpers.ArxivReplay).
"""

from __future__ import annotations

import datetime as dt
import re
import sys

import pytest
from contrib_helpers import VACCINE, install_replay, make_kb

from hftkb.cli import main
from hftkb.commands.discover import arxiv_query
from hftkb.triage import written_by_discover
from hftkb.validate import load_corpus
from hftkb.yamlio import load_yaml

TAR = """\
id: tar-2024
title: Tamper-Resistant Safeguards for Open-Weight LLMs
short_name: TAR
date: 2024-08-01
kind: defense
stage: alignment
summary: Trains safeguards with adversarial meta-learning so that they survive many steps of fine-tuning of the
  open weights by an attacker.
added: 2025-10-28
"""

# A record that holds the arXiv id of one recorded search result under another title.
HELD = """\
id: held-2026
title: Held Under Another Title
date: 2026-06-20
kind: analysis
identifiers:
  arxiv: '2606.90007'
added: 2026-06-30
"""

QUERY_SET = """\
categories: [cs.CL, cs.LG, cs.CR]
max_results: 50
queries:
  - '"harmful fine-tuning"'
  - tamper-resistant
  - no recorded answer for this one
"""

TODAY = dt.date.today()


@pytest.fixture
def kb(tmp_path):
    root = make_kb(tmp_path / "kb", {"vaccine-2024": VACCINE, "tar-2024": TAR, "held-2026": HELD})
    (root / "taxonomy" / "discover.yaml").write_text(QUERY_SET, encoding="utf-8")
    return root


def triage_path(kb):
    return kb / "discover" / f"{TODAY.isoformat()}.yaml"


def discover(kb, *extra):
    return main(["discover", "--kb", str(kb), *extra])


# ---------------------------------------------------------------------------------------------------------
# discover


def test_discover_since_writes_a_ranked_triage_file(monkeypatch, tmp_path, kb, capsys):
    replay = install_replay(monkeypatch, tmp_path)
    assert discover(kb, "--since", "2026-05-01") == 0
    out = capsys.readouterr().out
    path = triage_path(kb)
    assert f"wrote {path}: 4 candidate(s) since 2026-05-01" in out
    # Every query asked for its window and categories, newest first.
    assert len(replay.searches) == 3
    for query in replay.searches:
        assert f"submittedDate:[202605010000 TO {TODAY:%Y%m%d}2359]" in query
        assert "(cat:cs.CL OR cat:cs.LG OR cat:cs.CR)" in query
    assert '(ti:"harmful fine tuning" OR abs:"harmful fine tuning")' in replay.searches[0]
    assert all("sortBy=submittedDate" in url and "sortOrder=descending" in url for url in replay.urls)

    data, _ = load_yaml(path)  # the knowledge base's strict loader reads it
    assert written_by_discover(path)
    assert data["since"] == dt.date(2026, 5, 1) and data["generated"] == TODAY
    ids = [entry["arxiv"] for entry in data["candidates"]]
    # Dropped: 2605.90003 (a record's title under a new id), 2606.90007 (a record's arXiv id), 2604.90004
    # (its first version is older than --since); 2605.90001, found by two queries, is one candidate.
    assert sorted(ids) == ["2605.90001", "2606.90002", "2606.90005", "2607.90006"]
    assert data["found"] == 6 and data["already_in_kb"] == 2
    assert data["candidates"][ids.index("2605.90001")]["found_by"] == ['"harmful fine-tuning"', "tamper-resistant"]
    # Ranked by likeness to the records: the kernel paper that merely says "tamper-resistant" comes last.
    scores = [entry["score"] for entry in data["candidates"]]
    assert scores == sorted(scores, reverse=True) and ids[-1] == "2607.90006"
    tamper = data["candidates"][ids.index("2606.90005")]
    assert tamper["similar"][0]["id"] == "tar-2024" and tamper["kind"] == "defense" and tamper["stage"] == "alignment"
    assert all(len(entry["similar"]) <= 3 for entry in data["candidates"])
    for entry in data["candidates"]:
        assert entry["decision"] == "undecided"
        assert {"arxiv", "title", "authors", "date", "abstract", "score"} <= set(entry)
    assert data["candidates"][ids.index("2606.90002")]["authors"] == ["Cy Example"]


def test_default_since_is_the_newest_added_date(monkeypatch, tmp_path, kb, capsys):
    replay = install_replay(monkeypatch, tmp_path)
    assert discover(kb) == 0
    assert "since 2026-06-30" in capsys.readouterr().out  # held-2026's `added`
    assert all("submittedDate:[202606300000 TO" in query for query in replay.searches)
    ids = [entry["arxiv"] for entry in load_yaml(triage_path(kb))[0]["candidates"]]
    assert ids == ["2607.90006"]  # the only paper of the recorded answers submitted since then


def test_papers_kept_or_dropped_in_an_earlier_triage_file_are_left_out(monkeypatch, tmp_path, kb, capsys):
    install_replay(monkeypatch, tmp_path)
    earlier = kb / "discover" / "2026-06-02.yaml"
    earlier.parent.mkdir()
    earlier.write_text("generated: 2026-06-02\ncandidates:\n"
                       "  - arxiv: '2606.90002'\n    decision: drop\n"
                       "  - arxiv: '2606.90005'\n    decision: undecided\n", encoding="utf-8")
    assert discover(kb, "--since", "2026-05-01") == 0
    assert "1 kept or dropped before" in capsys.readouterr().out
    data, _ = load_yaml(triage_path(kb))
    ids = [entry["arxiv"] for entry in data["candidates"]]
    assert "2606.90002" not in ids and "2606.90005" in ids  # an undecided one comes back
    assert data["already_triaged"] == 1


def test_the_committed_query_set_loads():
    from pathlib import Path

    from hftkb.commands.discover import load_query_set

    query_set = load_query_set(Path(__file__).resolve().parents[2] / "taxonomy" / "discover.yaml")
    assert len(query_set.queries) >= 10 and {"cs.CL", "cs.LG", "cs.CR", "cs.AI"} <= set(query_set.categories)
    for query in query_set.queries:  # every query makes a well-formed search
        assert arxiv_query(query, query_set.categories, dt.date(2026, 5, 1), dt.date(2026, 6, 1)).count("(ti:") >= 1


def test_arxiv_query_words_phrases_and_hyphens():
    query = arxiv_query('"fine-tuning as a service" harmful', ["cs.CL"], dt.date(2026, 5, 1), dt.date(2026, 6, 1))
    assert query == ('(ti:"fine tuning as a service" OR abs:"fine tuning as a service") AND (ti:harmful OR abs:harmful)'
                     " AND (cat:cs.CL) AND submittedDate:[202605010000 TO 202606012359]")


def test_offline_is_one_line_and_writes_nothing(monkeypatch, tmp_path, kb, capsys):
    install_replay(monkeypatch, tmp_path, offline=True)
    assert discover(kb, "--since", "2026-05-01") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "offline" in err and "nothing written" in err
    assert not (kb / "discover").exists()


def test_rate_limited_midway_writes_nothing(monkeypatch, tmp_path, kb, capsys):
    # The first query is answered; the second meets 429 on every attempt: no triage file with half the queries.
    replay = install_replay(monkeypatch, tmp_path)
    original = replay.send

    def send(request, **kwargs):
        if len(replay.urls) >= 1:
            replay.statuses = [429]
        return original(request, **kwargs)

    monkeypatch.setattr(replay, "send", send)
    assert discover(kb, "--since", "2026-05-01") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HTTP 429 (rate limited" in err
    assert not (kb / "discover").exists()


def test_never_overwrites_a_file_it_did_not_write(monkeypatch, tmp_path, kb, capsys):
    install_replay(monkeypatch, tmp_path)
    path = triage_path(kb)
    path.parent.mkdir()
    path.write_text("# my own notes\ncandidates: []\n")
    assert discover(kb, "--since", "2026-05-01") == 1
    assert "was not written by `hftkb discover`" in capsys.readouterr().err
    assert path.read_text() == "# my own notes\ncandidates: []\n"
    # Its own untouched file is rewritten; once a curator has edited it, it is not.
    other = tmp_path / "mine.yaml"
    assert discover(kb, "--since", "2026-05-01", "--out", str(other)) == 0
    assert discover(kb, "--since", "2026-06-01", "--out", str(other)) == 0
    assert "since: 2026-06-01" in other.read_text()
    other.write_text(other.read_text().replace("decision: undecided", "decision: keep", 1))
    edited = other.read_text()
    assert discover(kb, "--since", "2026-05-01", "--out", str(other)) == 1
    assert other.read_text() == edited


def test_without_scikit_learn_a_one_line_message(monkeypatch, tmp_path, kb, capsys):
    install_replay(monkeypatch, tmp_path)
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn now raises ImportError
    monkeypatch.setitem(sys.modules, "sklearn.feature_extraction.text", None)
    assert discover(kb, "--since", "2026-05-01") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'hftkb[discover]'" in err
    assert not (kb / "discover").exists()


def test_a_bad_query_set_is_located(tmp_path, kb, capsys):
    path = kb / "taxonomy" / "discover.yaml"
    path.write_text("categories: [cs.CL]\nqueries:\n  - harmful\n  - 42\n")
    assert discover(kb) == 2
    assert f"{path}:4: queries[1]" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------
# add --from-triage


def _triage(monkeypatch, tmp_path, kb):
    install_replay(monkeypatch, tmp_path)
    assert discover(kb, "--since", "2026-05-01") == 0
    return triage_path(kb)


def _set(text: str, arxiv_id: str, **fields) -> str:
    """The triage text with `fields` set in the entry of `arxiv_id` (the fields it has replaced in place, others
    added before its decision line)."""
    start = text.index(f"- arxiv: '{arxiv_id}'")
    end = text.find("\n  - arxiv:", start)
    end = len(text) if end < 0 else end
    entry = text[start:end]
    for key, value in fields.items():
        line = f"{key}: {value}"
        if key == "arxiv":
            entry = entry.replace(f"- arxiv: '{arxiv_id}'", f"- {line}", 1)
        elif re.search(rf"^    {key}: .*$", entry, flags=re.MULTILINE):
            entry = re.sub(rf"^    {key}: .*$", f"    {line}", entry, count=1, flags=re.MULTILINE)
        else:
            entry = entry.replace("\n    decision:", f"\n    {line}\n    decision:", 1)
    return text[:start] + entry + text[end:]


def test_from_triage_adds_the_kept_entries_as_valid_records(monkeypatch, tmp_path, kb, capsys):
    path = _triage(monkeypatch, tmp_path, kb)
    text = _set(path.read_text(), "2606.90005", decision="keep")
    text = _set(text, "2606.90002", decision="keep", stage="fine_tuning", tags="[lora]", venue="'NeurIPS 2026'")
    text = _set(text, "2607.90006", decision="drop")
    path.write_text(text)
    capsys.readouterr()
    install_replay(monkeypatch, tmp_path, offline=True)  # no network needed
    monkeypatch.setenv("HFTKB_ARXIV_CACHE", str(tmp_path / "arxiv-cache"))
    assert main(["add", "--kb", str(kb), "--from-triage", str(path)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert out.count("wrote ") == 2
    corpus = load_corpus(kb)
    assert corpus.problems == []
    by_arxiv = {paper.identifiers.arxiv: paper for paper in corpus.papers.values()}
    tamper, data_filter = by_arxiv["2606.90005"], by_arxiv["2606.90002"]
    assert tamper.kind == "defense" and tamper.stage == "alignment" and tamper.authors == ["Ed Mock", "Flo Stub"]
    assert tamper.date == dt.date(2026, 6, 15) and tamper.summary is None  # never the abstract
    assert data_filter.stage == "fine_tuning" and data_filter.tags == ["lora"]
    assert data_filter.venue.name == "neurips" and data_filter.venue.year == 2026
    assert data_filter.source.startswith(f"hftkb discover {TODAY.isoformat()}")
    assert "2605.90001" not in by_arxiv and "2607.90006" not in by_arxiv  # undecided, dropped


def test_from_triage_with_nothing_kept_adds_nothing(monkeypatch, tmp_path, kb, capsys):
    path = _triage(monkeypatch, tmp_path, kb)
    before = sorted(p.name for p in (kb / "papers").iterdir())
    assert main(["add", "--kb", str(kb), "--from-triage", str(path)]) == 0
    assert "no entry has `decision: keep`" in capsys.readouterr().out
    assert sorted(p.name for p in (kb / "papers").iterdir()) == before


def _line_of(text: str, needle: str, after: str = "") -> int:
    return text[: text.index(needle, text.index(after) if after else 0)].count("\n") + 1


def test_bad_triage_entries_are_located_and_nothing_is_added(monkeypatch, tmp_path, kb, capsys):
    path = _triage(monkeypatch, tmp_path, kb)
    text = path.read_text()
    text = _set(text, "2606.90005", decision="keep", kind="essay")  # unknown kind
    text = _set(text, "2606.90002", decision="keep", stage="sometime")  # unknown stage
    text = _set(text, "2607.90006", decision="maybe")  # malformed
    text = _set(text, "2605.90001", decision="keep", arxiv="'2402.01109'")  # Vaccine: the knowledge base has it
    text += "  - just a string\n"  # malformed: not a mapping
    path.write_text(text)
    capsys.readouterr()
    before = sorted(p.name for p in (kb / "papers").iterdir())
    assert main(["add", "--kb", str(kb), "--from-triage", str(path)]) == 1
    err = capsys.readouterr().err
    expected = [
        (_line_of(text, "kind: essay"), "E703", "kind: 'essay' is not a term of taxonomy/kinds.yaml"),
        (_line_of(text, "stage: sometime"), "E703", "stage: 'sometime' is not a term of taxonomy/stages.yaml"),
        (_line_of(text, "decision: maybe"), "E701", "decision must be one of keep, drop, undecided"),
        (_line_of(text, "arxiv: '2402.01109'"), "E702", "arxiv:2402.01109 is already in the knowledge base as 'vaccine-2024'"),
        (_line_of(text, "- just a string"), "E701", "an entry is a mapping"),
    ]
    for line, code, message in expected:
        assert re.search(rf"^{re.escape(str(path))}:{line}: {code} candidates\[\d\]: {re.escape(message)}", err, re.MULTILINE), (line, code, err)
    assert "no record written" in err and "Traceback" not in err
    assert sorted(p.name for p in (kb / "papers").iterdir()) == before


def test_same_paper_twice_and_unknown_keys_are_reported(monkeypatch, tmp_path, kb, capsys):
    path = _triage(monkeypatch, tmp_path, kb)
    text = path.read_text()
    text = _set(text, "2606.90005", decision="keep", arxiv="'2606.90002'", colour="blue")
    path.write_text(text)
    capsys.readouterr()
    assert main(["add", "--kb", str(kb), "--from-triage", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:{_line_of(text, 'colour: blue')}: E701 " in err and "unknown key 'colour'" in err
    assert re.search(rf"{re.escape(str(path))}:\d+: E702 candidates\[\d\]: arxiv:2606.90002 is listed twice", err)


def test_a_kept_entry_that_would_not_validate_adds_nothing(monkeypatch, tmp_path, kb, capsys):
    path = _triage(monkeypatch, tmp_path, kb)
    text = _set(path.read_text(), "2606.90005", decision="keep")
    text = _set(text, "2606.90002", decision="keep", code="'ftp://example.org/code'")  # not an http(s) link
    path.write_text(text)
    capsys.readouterr()
    before = sorted(p.name for p in (kb / "papers").iterdir())
    assert main(["add", "--kb", str(kb), "--from-triage", str(path)]) == 1
    err = capsys.readouterr().err
    assert "E206" in err and f"{path}:{_line_of(text, 'code:') - 1}: the kept entry arxiv:2606.90002" in err
    assert sorted(p.name for p in (kb / "papers").iterdir()) == before  # not even the valid one


def test_malformed_triage_yaml_is_located(tmp_path, kb, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("candidates:\n  - arxiv: '2606.90005'\n    decision: keep\n    decision: drop\n")
    assert main(["add", "--kb", str(kb), "--from-triage", str(path)]) == 1
    assert f"{path}:4: E106 duplicate key 'decision'" in capsys.readouterr().err


def test_from_triage_refuses_per_paper_options(tmp_path, kb, capsys):
    path = tmp_path / "t.yaml"
    path.write_text("candidates: []\n")
    assert main(["add", "--kb", str(kb), "--from-triage", str(path), "--kind", "defense"]) == 2
    assert "set these per entry" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------
# The monthly workflow


def test_workflow_runs_discover_monthly_and_opens_a_pull_request():
    from pathlib import Path

    import yaml

    repo = Path(__file__).resolve().parents[2]
    workflow = yaml.safe_load((repo / ".github" / "workflows" / "discover.yml").read_text(encoding="utf-8"))
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    [schedule] = triggers["schedule"]
    minute, hour, day, month, weekday = schedule["cron"].split()
    assert day.isdigit() and month == "*" and weekday == "*"  # once a month
    steps = workflow["jobs"]["discover"]["steps"]
    commands = "\n".join(step.get("run", "") for step in steps)
    assert ".[discover]" in commands and "hftkb discover" in commands and '--out "$file"' in commands
    assert 'file="discover/$(date -u +%F).yaml"' in commands  # the name `hftkb discover` uses by default
    assert "set -o pipefail" in commands  # `hftkb discover | tee` must fail the job when discover fails
    [pull_request] = [step for step in steps if str(step.get("uses", "")).startswith("peter-evans/create-pull-request@")]
    assert pull_request["with"]["add-paths"] == "${{ steps.discover.outputs.file }}"
    assert workflow["permissions"] == {"contents": "write", "pull-requests": "write"}


def test_an_unknown_venue_in_a_kept_entry_is_located(monkeypatch, tmp_path, kb, capsys):
    path = _triage(monkeypatch, tmp_path, kb)
    text = _set(path.read_text(), "2606.90005", decision="keep", venue="'Imaginary Conf 2026'")
    path.write_text(text)
    capsys.readouterr()
    before = sorted(p.name for p in (kb / "papers").iterdir())
    assert main(["add", "--kb", str(kb), "--from-triage", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:{_line_of(text, 'venue:') - 1}: E703 venue: 'Imaginary Conf 2026' is not in taxonomy/venues.yaml" in err
    assert sorted(p.name for p in (kb / "papers").iterdir()) == before
