"""`hftkb import-bib` and `hftkb export-bib`: bad blocks reported with their line, LaTeX decoded, records that
validate, and the round trip export -> import into an empty KB -> export giving identical text."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest
from contrib_helpers import BIB_FIXTURES, VACCINE, make_kb

from hftkb.cli import main
from hftkb.validate import load_corpus
from hftkb.importers.bibtex import bib_authors, parse_bib
from hftkb.yamlio import dump_record

MIXED = BIB_FIXTURES / "mixed.bib"


def run_import(kb, *args):
    return main(["import-bib", "--kb", str(kb), *map(str, args)])


def test_good_entries_imported_and_every_bad_block_named_with_its_line(tmp_path, capsys):
    kb = make_kb(tmp_path / "kb")
    assert run_import(kb, MIXED, "--kind", "defense") == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    where = str(MIXED)
    assert f"{where}:18: B101 cannot parse '@inproceedings{{broken-2024,'" in err
    assert f"{where}:30: B102 key 'muller-2025' is used twice (first on line 22)" in err
    assert f"{where}:35: B103 notitle-2024: no title" in err
    assert f"{where}:40: B104 noyear: no year or date" in err
    assert f"{where}:61: B107 lisa-again-2024: same paper as 'lisa-2024'" in err
    corpus = load_corpus(kb)
    assert corpus.problems == []
    assert sorted(corpus.papers) == [
        "fine-tuning-aligned-language-2023", "lisa-2024", "muller-2025", "somewhere-2024", "vaccine-2024",
    ]
    for paper_id, paper in corpus.papers.items():  # canonical files: `hftkb fmt --check` passes
        assert (kb / "papers" / f"{paper_id}.yaml").read_text(encoding="utf-8") == dump_record(paper)


def test_values_are_decoded_and_mapped(tmp_path, capsys):
    kb = make_kb(tmp_path / "kb")
    run_import(kb, MIXED, "--kind", "defense")
    papers = load_corpus(kb).papers
    muller = papers["muller-2025"]
    assert muller.title == "LoRA Fine-Tuning & the Safety of LLMs: 50% of a Tale"
    assert muller.authors == ["Józef Müller", "Łukasz Ørsted"]  # "Last, First" turned round; "and others" dropped
    assert muller.date == dt.date(2025, 3, 1) and muller.tags == ["lora"]  # tag from keywords
    vaccine = papers["vaccine-2024"]  # key 'huang2024vaccine' -> the project's id scheme
    assert vaccine.authors == ["Tiansheng Huang", "Sihao Hu", "Ling Liu"]
    assert vaccine.venue.name == "neurips" and vaccine.venue.year == 2024 and vaccine.venue.track == "main"
    qi = papers["fine-tuning-aligned-language-2023"]  # Google Scholar's "arXiv preprint arXiv:..." journal
    assert qi.identifiers.arxiv == "2310.03693" and qi.venue.name == "arxiv" and qi.date == dt.date(2023, 10, 1)
    lisa = papers["lisa-2024"]
    assert lisa.identifiers.arxiv == "2405.18641" and lisa.links[0].url == "https://arxiv.org/abs/2405.18641"
    somewhere = papers["somewhere-2024"]
    assert somewhere.venue is None and somewhere.identifiers.doi == "10.1234/imaginary.2024.7"
    err = capsys.readouterr().err
    assert "venue 'Proceedings of the Imaginary Conference on Things' is not in taxonomy/venues.yaml" in err
    assert "key 'huang2024vaccine' became id 'vaccine-2024'" in err


def test_kind_from_keywords_or_refused(tmp_path, capsys):
    kb = make_kb(tmp_path / "kb")
    bib = tmp_path / "k.bib"
    bib.write_text("@misc{a-2024, title={With a kind}, year=2024, keywords={Attack, RLHF}}\n\n"
                   "@misc{b-2024, title={Without a kind}, year=2024}\n", encoding="utf-8")
    assert run_import(kb, bib) == 1
    assert f"{bib}:3: B105 b-2024: no kind" in capsys.readouterr().err
    paper = load_corpus(kb).papers["a-2024"]
    assert paper.kind == "attack" and paper.tags == ["rlhf"]


def test_paper_already_in_kb_is_skipped_not_duplicated(tmp_path, capsys):
    kb = make_kb(tmp_path / "kb", {"vaccine-2024": VACCINE})
    bib = tmp_path / "v.bib"
    bib.write_text("@misc{other-2024, title={Anything}, year=2024, eprint={2402.01109}, archivePrefix={arXiv}}\n"
                   "@misc{retitled-2024, title={VACCINE: perturbation-aware alignment for large language models "
                   "against harmful fine-tuning attack}, year=2024}\n", encoding="utf-8")
    assert run_import(kb, bib, "--kind", "defense") == 0
    err = capsys.readouterr().err
    assert f"{bib}:1: B106 other-2024: already in the knowledge base as 'vaccine-2024' (arXiv id 2402.01109)" in err
    assert f"{bib}:2: B106 retitled-2024: already in the knowledge base as 'vaccine-2024' (the same title)" in err
    assert sorted(load_corpus(kb).papers) == ["vaccine-2024"]


def test_latex_that_would_be_garbled_is_refused_with_b108(tmp_path, capsys):
    """pylatexenc never raises: it returns a lone accent or drops a brace. Such a value is refused at its line."""
    kb = make_kb(tmp_path / "kb")
    bib = tmp_path / "latex.bib"
    bib.write_text(textwrap.dedent("""\
        @misc{good-2024, title = {Safety of {LoRA} in M{\\"u}nchen}, year = 2024}

        @misc{accent-2024, title = {Safety \\"}, year = 2024}
        @misc{brace-2024,
          title = "A closing } brace with no opening",
          year = 2024}
        @misc{author-2024, title = {Fine}, author = "M{\\"u}ller, {J", year = 2024}
        """), encoding="utf-8")
    assert run_import(kb, bib, "--kind", "analysis") == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "WARNING" not in err
    assert f"{bib}:3: B108 accent-2024: cannot decode the LaTeX of title: an accent command has no letter" in err
    assert f"{bib}:4: B108 brace-2024: cannot decode the LaTeX of title: a '}}' closes a brace that was never opened" in err
    assert f"{bib}:7: B108 author-2024: cannot decode the LaTeX of author: 1 brace(s) opened and never closed" in err
    papers = load_corpus(kb).papers
    assert [p.title for p in papers.values()] == ["Safety of LoRA in München"]


def test_invalid_record_reported_at_bib_line_and_not_written(tmp_path, capsys):
    kb = make_kb(tmp_path / "kb")
    bib = tmp_path / "bad.bib"
    bib.write_text("\n@misc{ok-2024, title={Fine}, year=2024}\n@misc{future-2099, title={From the future}, year=2099}\n", encoding="utf-8")
    assert run_import(kb, bib, "--kind", "defens") == 1
    err = capsys.readouterr().err
    assert f"{bib}:2: E304 ok-2024: kind: 'defens' is not a term of taxonomy/kinds.yaml (did you mean 'defense'?)" in err
    assert run_import(kb, bib, "--kind", "defense") == 1
    assert f"{bib}:3: E307 future-2099: date 2099-01-01 is in the future" in capsys.readouterr().err
    assert sorted(load_corpus(kb).papers) == ["ok-2024"]


def test_missing_or_binary_file_is_one_line(tmp_path, capsys):
    kb = make_kb(tmp_path / "kb")
    assert run_import(kb, tmp_path / "nope.bib", "--kind", "defense") == 2
    assert capsys.readouterr().err.strip().endswith("no such file")
    binary = tmp_path / "b.bib"
    binary.write_bytes(b"\xff\xfe\x00@misc{")
    assert run_import(kb, binary, "--kind", "defense") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "UTF-8" in err


def test_dry_run_writes_nothing(tmp_path, capsys):
    kb = make_kb(tmp_path / "kb")
    run_import(kb, MIXED, "--kind", "defense", "--dry-run")
    assert "would write papers/lisa-2024.yaml" in capsys.readouterr().out
    assert list((kb / "papers").iterdir()) == []


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("Huang, Tiansheng and Ling Liu", ["Tiansheng Huang", "Ling Liu"]),
        ("von Neumann, John and Ludwig van Beethoven", ["John von Neumann", "Ludwig van Beethoven"]),
        ("{Simon and Schuster} and Doe, Jr., John", ["Simon and Schuster", "John Doe Jr."]),
        ("M{\\\"u}ller, J. and others", ["J. Müller"]),
    ],
)
def test_bib_authors(raw, expected):
    assert bib_authors(raw) == expected


def test_parse_bib_never_raises_on_garbage():
    entries, problems = parse_bib("@@@ {{{ }}} @misc{x,, title = }\n@article{", "g.bib")
    assert entries == [] and problems and all(p.code == "B101" for p in problems)


# ---------------------------------------------------------------------------------------------------------
# Round trip


ROUND_TRIP_PAPERS = {
    "vaccine-2024": VACCINE.replace("added: 2025-10-28\n", "links:\n  - kind: paper\n    url: https://arxiv.org/abs/2402.01109\nadded: 2025-10-28\n"),
    "fine-tuning-aligned-language-2023": """\
        id: fine-tuning-aligned-language-2023
        title: Fine-tuning Aligned Language Models Compromises Safety, Even When Users Do Not Intend To!
        authors: [Xiangyu Qi, Yi Zeng, Tinghao Xie, Pin-Yu Chen, Ruoxi Jia, Prateek Mittal, Peter Henderson]
        date: 2023-10-05
        venue: {name: iclr, year: 2024}
        kind: attack
        identifiers: {arxiv: '2310.03693'}
        added: 2025-10-28
    """,
    "vulnerability-safety-alignment-2024": """\
        id: vulnerability-safety-alignment-2024
        title: On the Vulnerability of Safety Alignment in Open-Access LLMs
        authors: [Jingwei Yi, Rui Ye, Qisi Chen]
        date: 2024-08-01
        venue: {name: acl, year: 2024, track: findings}
        kind: attack
        identifiers: {acl: 2024.findings-acl.549, doi: 10.18653/v1/2024.findings-acl.549}
        added: 2025-10-28
    """,
    "lora-undoes-2023": """\
        id: lora-undoes-2023
        title: LoRA fine-tuning efficiently undoes safety training in Llama 2-Chat 70B
        authors: [Simon Lermen, Charlie Rogers-Smith, Jeffrey Ladish]
        date: 2023-10-31
        venue: {name: iclr, year: 2024, track: workshop, note: SeT LLM}
        kind: attack
        identifiers: {arxiv: '2310.20624'}
        added: 2025-10-28
    """,
    "tmlr-paper-2025": """\
        id: tmlr-paper-2025
        title: 'A journal paper: über {braces}, 100% & $x_1$ ~ ^ \\ <script>alert(1)</script>'
        authors: [José Müller, Łukasz Ørsted, 'Acme, Inc.']
        date: 2024-12-24
        venue: {name: tmlr, year: 2025, track: journal, note: Featured certification}
        kind: analysis
        identifiers: {openreview: tTPHgb0EtV}
        added: 2025-10-28
    """,
    "submitted-2025": """\
        id: submitted-2025
        title: A Paper Under Review
        authors: [Ann Author]
        date: 2025-09-20
        venue: {name: iclr, year: 2026, track: submission}
        kind: defense
        identifiers: {openreview: AbCdEf1234}
        links: [{kind: paper, url: 'https://openreview.net/forum?id=AbCdEf1234'}]
        added: 2025-10-28
    """,
    "no-venue-2022": """\
        id: no-venue-2022
        title: A Paper with no Venue and no Authors
        date: 2022-06-15
        kind: benchmark
        added: 2025-10-28
    """,
    "tech-report-2025": """\
        id: tech-report-2025
        title: A Lab's Report
        authors: [Ann Author]
        date: 2025-08-05
        venue: {name: technical_report, note: Example Lab}
        kind: analysis
        added: 2025-10-28
    """,
}


def test_round_trip_export_import_export_is_identical(tmp_path, capsys):
    from contrib_helpers import TAXONOMY

    TAXONOMY_EXTRA = "- id: technical_report\n  name: Technical report\n"
    source = make_kb(tmp_path / "source", {k: textwrap.dedent(v) for k, v in ROUND_TRIP_PAPERS.items()})
    (source / "taxonomy" / "venues.yaml").write_text(
        (source / "taxonomy" / "venues.yaml").read_text(encoding="utf-8") + TAXONOMY_EXTRA, encoding="utf-8")
    assert load_corpus(source).problems == []
    first = tmp_path / "first.bib"
    assert main(["export-bib", "--kb", str(source), "-o", str(first)]) == 0

    target = make_kb(tmp_path / "target")
    (target / "taxonomy" / "venues.yaml").write_text((source / "taxonomy" / "venues.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["import-bib", "--kb", str(target), str(first), "--kind", "defense"]) == 0, capsys.readouterr().err
    assert load_corpus(target).problems == []
    capsys.readouterr()
    assert main(["export-bib", "--kb", str(target)]) == 0
    second = capsys.readouterr().out
    assert second == first.read_text(encoding="utf-8")
    # And the text is what a reader expects of each entry type.
    assert "@inproceedings{fine-tuning-aligned-language-2023," in second
    assert "booktitle = {Findings of ACL}" in second
    assert "booktitle = {ICLR Workshop: SeT LLM}" in second
    assert "@article{tmlr-paper-2025," in second and "journal = {Transactions on Machine Learning Research}" in second
    assert "note = {Submitted to ICLR 2026}" in second
    assert "@techreport{tech-report-2025," in second and "institution = {Example Lab}" in second


def test_export_selected_ids_and_unknown_id(tmp_path, capsys):
    kb = make_kb(tmp_path / "kb", {"vaccine-2024": VACCINE})
    assert main(["export-bib", "--kb", str(kb), "vaccine-2024"]) == 0
    assert capsys.readouterr().out.startswith("@inproceedings{vaccine-2024,")
    assert main(["export-bib", "--kb", str(kb), "nope-2024"]) == 2
    assert "no paper record with id 'nope-2024'" in capsys.readouterr().err


REPO = __import__("pathlib").Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not (REPO / "papers").is_dir(), reason="the repository's knowledge base is not there")
def test_round_trip_on_the_real_corpus(tmp_path, capsys):
    import shutil

    first = tmp_path / "kb.bib"
    assert main(["export-bib", "--kb", str(REPO), "-o", str(first)]) == 0
    target = tmp_path / "kb"
    shutil.copytree(REPO / "taxonomy", target / "taxonomy")
    assert main(["import-bib", "--kb", str(target), str(first), "--kind", "defense"]) == 0
    capsys.readouterr()
    assert main(["export-bib", "--kb", str(target)]) == 0
    second = capsys.readouterr().out
    assert second.count("\n@") + 1 == len(load_corpus(REPO).papers)
    assert second == first.read_text(encoding="utf-8")


def test_import_from_standard_input(tmp_path, monkeypatch, capsys):
    import io

    kb = make_kb(tmp_path / "kb")
    monkeypatch.setattr("sys.stdin", io.StringIO("@misc{piped-2024, title={From a Pipe}, year=2024, month=jul}\n"))
    assert run_import(kb, "-", "--kind", "analysis") == 0
    assert load_corpus(kb).papers["piped-2024"].date == dt.date(2024, 7, 1)


def test_export_to_unwritable_path_is_one_line(tmp_path, capsys):
    kb = make_kb(tmp_path / "kb", {"vaccine-2024": VACCINE})
    assert main(["export-bib", "--kb", str(kb), "-o", str(tmp_path / "missing-dir" / "x.bib")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: cannot write")
