"""Author pages: one per person whatever the spelling, the alias file, and the links from paper pages."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from hftkb.site.authors import AliasFileError, author_key, collect_authors, load_aliases


def paper(pid: str, *authors: str, year: int = 2024):
    import datetime as dt

    return SimpleNamespace(id=pid, authors=list(authors), date=dt.date(year, 1, 1))


@pytest.mark.parametrize("a, b", [
    ("Huang, Tiansheng", "Tiansheng Huang"),
    ("tiansheng  HUANG", "Tiansheng Huang"),
    ("José García", "Jose Garcia"),
    ("Jos{\\'e} Garc{\\'i}a", "José García"),
    ("Philip H.S. Torr", "Philip H. S. Torr"),
    ("Łukasz Bartoszcze", "Lukasz Bartoszcze"),
])
def test_spellings_of_one_person_share_a_key(a, b):
    assert author_key(a) == author_key(b)


def test_different_people_keep_different_keys():
    assert author_key("Tiansheng Huang") != author_key("Tiansheng Hu")
    assert author_key("Philip Torr") != author_key("Philip H. S. Torr")


def test_initials_join_the_only_full_name_with_them():
    authors, keys = collect_authors([paper("a", "Tiansheng Huang"), paper("b", "T. Huang"), paper("c", "S. Hu")], {})
    assert keys["T. Huang"] == keys["Tiansheng Huang"]
    assert authors[keys["T. Huang"]].name == "Tiansheng Huang" and len(authors[keys["T. Huang"]].papers) == 2
    # Two full names with the same initials: the initials stay apart rather than merge the wrong person.
    _, keys = collect_authors([paper("a", "Tian Huang"), paper("b", "Tao Huang"), paper("c", "T. Huang")], {})
    assert len({keys["Tian Huang"], keys["Tao Huang"], keys["T. Huang"]}) == 3


def test_alias_file_joins_hard_cases_and_names_the_page(tmp_path: Path):
    (tmp_path / "taxonomy").mkdir()
    (tmp_path / "taxonomy/author_aliases.yaml").write_text("- name: Ling Liu\n  aliases: [L. Liu-Smith, 刘玲]\n")
    aliases = load_aliases(tmp_path)
    authors, keys = collect_authors([paper("a", "L. Liu-Smith"), paper("b", "刘玲"), paper("c", "Ling Liu")], aliases)
    assert keys["L. Liu-Smith"] == keys["刘玲"] == keys["Ling Liu"]
    assert authors[keys["Ling Liu"]].name == "Ling Liu"


@pytest.mark.parametrize("text, line, message", [
    ("name: x\n", 1, "a list of"),
    ("- name: A B\n  aliases: [C D]\n- name: E F\n  aliase: [G]\n", 4, "unknown key 'aliase'"),
    ("- name: A B\n  aliases: [C D]\n- name: E F\n  aliases:\n    - G H\n    - c  d\n", 6, "'c  d' is already an alias of 'A B' (line 2)"),
    ("- aliases: [C D]\n", 1, "`name` must be a non-empty string"),
    ("- name: A B\n  aliases: C D\n", 2, "`aliases` must be a list"),
])
def test_a_bad_alias_file_is_one_line_naming_file_and_line(tmp_path: Path, text, line, message):
    (tmp_path / "taxonomy").mkdir()
    (tmp_path / "taxonomy/author_aliases.yaml").write_text(text)
    with pytest.raises(AliasFileError) as err:
        load_aliases(tmp_path)
    assert str(err.value).startswith(f"taxonomy/author_aliases.yaml:{line}: ") and message in str(err.value)


def test_build_with_a_bad_alias_file_fails_with_the_line(tmp_path: Path, fabricated_kb: Path, capsys):
    import shutil

    from hftkb.cli import main

    kb = tmp_path / "kb"
    shutil.copytree(fabricated_kb, kb)
    (kb / "taxonomy/author_aliases.yaml").write_text("- name: A\n  oops: 1\n")
    assert main(["build", "--kb", str(kb), "--out", str(tmp_path / "out")]) != 0
    out = capsys.readouterr()
    assert "taxonomy/author_aliases.yaml:2: unknown key 'oops'" in out.out + out.err
    assert "Traceback" not in out.out + out.err


def _author_hrefs(page: str) -> list[str]:
    block = re.search(r'<p class="hftkb-authors">(.*?)</p>', page, re.S).group(1)
    return re.findall(r'href="([^"]+)"', block)


def test_two_spellings_of_one_author_land_on_one_page(fabricated_site: Path):
    one = _author_hrefs((fabricated_site / "papers/paper-00001/index.html").read_text())
    two = _author_hrefs((fabricated_site / "papers/paper-00002/index.html").read_text())
    three = _author_hrefs((fabricated_site / "papers/paper-00003/index.html").read_text())
    assert one[0] == two[0] == three[0] == "../../authors/tiansheng-huang.html"  # "Huang, Tiansheng" / case / spaces
    assert one[1] == two[1]  # LaTeX accents and Unicode accents
    assert two[2] == three[1] == "../../authors/plain-author.html"  # "P. Writer", joined by the alias file
    page = (fabricated_site / "authors/tiansheng-huang.html").read_text()
    assert "<h1>Tiansheng Huang</h1>" in page and "3 papers, newest first" in page
    for pid in ("paper-00001", "paper-00002", "paper-00003"):
        assert f'href="../papers/{pid}/"' in page
    assert "Also written: Huang, Tiansheng; tiansheng  huang" in page
    # by year, newest first, each with kind (and stage for defenses)
    years = [int(y) for y in re.findall(r"<h2>(\d{4})</h2>", page)]
    assert years == sorted(years, reverse=True)
    kinds = re.findall(r"<li><a [^>]+>[^<]*</a> <i>([^<]+)</i>", page)
    assert len(kinds) == 3 and set(kinds) <= {"Attack", "Defense", "Analysis", "Benchmark", "Survey"}


def test_authors_index_is_in_the_navigation_and_lists_every_author(fabricated_site: Path, fabricated_kb: Path):
    index = (fabricated_site / "authors/index.html").read_text()
    pages = sorted(p.stem for p in (fabricated_site / "authors").glob("*.html") if p.name != "index.html")
    links = set(re.findall(r'<td><a href="([^"/]+)\.html">', index))  # next to the index, in authors/
    assert links == set(pages) and len(pages) > 50
    browse = (fabricated_site / "browse/index.html").read_text()  # the nav prunes other sections from a page
    nav = re.search(r'<nav class="md-nav md-nav--primary.*?</nav>', browse, re.S).group(0)
    assert 'href="../authors/"' in nav


def test_author_pages_are_in_the_sitemap_when_the_site_has_a_url(tmp_path: Path, fabricated_kb: Path):
    """Author pages skip MkDocs, so the build adds them to the sitemap MkDocs writes for its own pages."""
    import gzip

    from hftkb.commands.build import build_site
    from site_helpers import copy_project

    project = copy_project(tmp_path)
    config = project / "mkdocs.yml"
    config.write_text(re.sub(r"^site_url: .*$", "site_url: https://kb.example.org/hftkb/", config.read_text(), flags=re.M))
    build_site(fabricated_kb, tmp_path / "out", config)
    sitemap = (tmp_path / "out/sitemap.xml").read_text()
    pages = sorted(p.name for p in (tmp_path / "out/authors").glob("*.html") if p.name != "index.html")
    listed = re.findall(r"<loc>https://kb\.example\.org/hftkb/authors/([^<]+)</loc>", sitemap)
    assert sorted(listed) == pages and len(pages) > 50
    assert "<loc>https://kb.example.org/hftkb/papers/paper-00001/</loc>" in sitemap  # MkDocs' own entries stay
    assert gzip.decompress((tmp_path / "out/sitemap.xml.gz").read_bytes()).decode() == sitemap
