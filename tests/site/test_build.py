"""The site built from a fabricated knowledge base (60 records, hostile ones included): every page and download
is there, every internal link resolves, nothing from a record can run."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from hftkb.site.synthetic import HOSTILE_STRINGS

from site_helpers import REPO, copy_project


class _Executable(HTMLParser):
    """Collects what would run in a browser: event-handler attributes, javascript: URLs, inline scripts."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.in_script = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.lower().startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name.lower() in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(("javascript:", "data:")):
                self.found.append(f"<{tag} {name}={value}>")
        self.in_script = tag == "script"

    def handle_endtag(self, tag):
        self.in_script = False

    def handle_data(self, data):
        if self.in_script and "alert(" in data:
            self.found.append(f"<script>{data[:60]}")


def html_files(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def test_expected_pages_exist(fabricated_site: Path):
    for page in [
        "index.html", "browse/index.html", "papers/paper-00000/index.html", "papers/paper-00059/index.html",
        "kinds/defense/index.html", "stages/fine_tuning/index.html", "sub-families/alignment_data_mixing/index.html",
        "attack-types/harmful_data/index.html", "venues/index.html", "venues/neurips/index.html", "tags/index.html",
        "tags/lora/index.html", "needs/alignment_data/index.html", "faq/index.html",
        "faq/is-the-threat-realistic/index.html", "implementations/index.html", "implementations/demo/index.html",
        "explore/timeline/index.html", "explore/graph/index.html", "downloads/index.html", "about/index.html",
        "downloads/papers.json", "downloads/papers.csv", "downloads/papers.bib", "downloads/papers.schema.json",
        "downloads/graph.json", "feed.xml", "search/search_index.json",
        "assets/vendor/cytoscape/cytoscape.min.js", "assets/vendor/cytoscape/LICENSE",
    ]:
        assert (fabricated_site / page).is_file(), page


def test_no_record_string_is_executable_anywhere(fabricated_site: Path):
    checked = 0
    for path in html_files(fabricated_site):
        parser = _Executable()
        parser.feed(path.read_text(encoding="utf-8"))
        assert parser.found == [], f"{path.relative_to(fabricated_site)}: {parser.found}"
        checked += 1
    assert checked > 100
    # Search results are rendered as HTML by Material: the index may hold record text only escaped.
    index = (fabricated_site / "search/search_index.json").read_text(encoding="utf-8")
    assert "<script>alert" not in index and "<img src=x" not in index and "&lt;script&gt;alert" in index
    # The hostile title is on its page, as text.
    page = (fabricated_site / "papers/paper-00000/index.html").read_text()
    assert "&lt;script&gt;alert" in page
    assert "&#123;&#123; config.site_name &#125;&#125;" in page
    # and Jinja was not evaluated anywhere: the site name would appear where `{{ config.site_name }}` was written
    assert "survives Harmful Fine-tuning Knowledge Base" not in page


def test_no_markdown_link_or_attribute_from_records(fabricated_site: Path):
    faq = (fabricated_site / "faq/hostile-question/index.html").read_text()
    assert "<span>js link</span>" in faq  # the link text is shown, without its javascript: target
    assert "xss-faq-link" not in faq
    tag_page = (fabricated_site / "tags/hostile/index.html").read_text()
    assert "Tag &lt;script&gt;" in tag_page
    # the hostile term name is escaped in the navigation too (Material writes nav titles unescaped)
    assert "Tag <script>" not in tag_page


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.hrefs.append(value)


def test_every_internal_link_resolves(fabricated_site: Path):
    broken = []
    for path in html_files(fabricated_site):
        if path.name == "404.html":  # Material writes root-absolute URLs there (it is served from any path)
            continue
        parser = _Links()
        parser.feed(path.read_text(encoding="utf-8"))
        for href in parser.hrefs:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href.startswith(("#", "mailto:")):
                continue
            target = (path.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{path.relative_to(fabricated_site)} -> {href}")
    assert not broken, broken[:20]


def test_paper_page_fields_relations_bibtex_and_impl_box(fabricated_site: Path):
    page = (fabricated_site / "papers/paper-00000/index.html").read_text()
    assert "extended by" in page and 'href="../../papers/paper-00001/"' in page  # reverse relation, computed
    assert 'id="bibtex-paper-00000"' in page and "@inproceedings{paper-00000," in page
    assert "As reported" in page and "12.5" in page  # issue 25: the numbers for this method, grouped by setting
    assert "Cited in the FAQ" in page
    demo = (fabricated_site / "papers/paper-00002/index.html").read_text()
    assert "Reference implementation" in demo and "../../implementations/demo/" in demo
    # ... with the measured result against SFT at p = 0.1 (two seeds of the demo merged).
    assert "its HS at p = 0.1 is 16.5 &#91;12.5–20.5&#93;, against 40 for plain SFT" in demo
    assert "Reference implementation" not in (fabricated_site / "papers/paper-00003/index.html").read_text()


def test_paper_pages_stay_out_of_the_navigation(fabricated_site: Path):
    home = (fabricated_site / "index.html").read_text()
    nav = re.search(r'<nav class="md-nav md-nav--primary.*?</nav>', home, re.S).group(0)
    assert "papers/" not in nav
    assert "browse/" in home and "stages/" in (fabricated_site / "browse/index.html").read_text()


def test_table_rows_carry_filter_data(fabricated_site: Path):
    page = (fabricated_site / "browse/index.html").read_text()
    rows = re.findall(r'<tr data-kind="([a-z_]+)" data-stage="([a-z_]*)" data-venue="([a-z_]*)" data-year="(\d{4})" data-code="([01])">', page)
    assert len(rows) == 60
    assert 'data-filter="stage"' in page and 'data-filter="venue"' in page and 'data-filter="code"' in page
    assert 'data-sort="date"' in page and 'data-sort="title"' in page and 'data-sort="venue"' in page
    defense = (fabricated_site / "kinds/defense/index.html").read_text()
    assert set(re.findall(r'<tr data-kind="([a-z_]+)"', defense)) == {"defense"}


def test_search_index_covers_titles_authors_summaries_tags_but_not_tables(fabricated_site: Path):
    docs = json.loads((fabricated_site / "search/search_index.json").read_text())["docs"]
    paper = [d for d in docs if d["location"].startswith("papers/paper-00005/")]
    assert len(paper) == 1  # one entry per paper page: title + head of the page
    records = json.loads((fabricated_site / "downloads/papers.json").read_text())
    record = next(r for r in records if r["id"] == "paper-00005")
    text = paper[0]["title"] + " " + paper[0]["text"]
    assert record["title"][:30] in text and record["authors"][0] in text and record["summary"][:40] in text
    browse = [d for d in docs if d["location"].startswith("browse/")]
    assert all("paper-000" not in d["text"] and len(d["text"]) < 2000 for d in browse)  # the table is excluded


def test_downloads_parse_and_match_the_corpus(fabricated_site: Path):
    records = json.loads((fabricated_site / "downloads/papers.json").read_text())
    assert len(records) == 60 and records[0]["id"] == "paper-00000"
    rows = list(csv.DictReader(io.StringIO((fabricated_site / "downloads/papers.csv").read_text())))
    assert len(rows) == 60 and rows[0]["title"].startswith("<script>")
    bib = (fabricated_site / "downloads/papers.bib").read_text()
    assert len(re.findall(r"^@\w+\{paper-\d{5},", bib, re.M)) == 60
    feed = ET.fromstring((fabricated_site / "feed.xml").read_bytes())
    entries = feed.findall("{http://www.w3.org/2005/Atom}entry")
    assert 0 < len(entries) <= 50
    added = [e.find("{http://www.w3.org/2005/Atom}published").text for e in entries]
    assert added == sorted(added, reverse=True)
    schema = json.loads((fabricated_site / "downloads/papers.schema.json").read_text())
    assert "title" in schema["properties"]


def test_graph_json_has_every_paper_and_relation(fabricated_site: Path, fabricated_kb: Path):
    graph = json.loads((fabricated_site / "downloads/graph.json").read_text())
    nodes, edges = graph["elements"]["nodes"], graph["elements"]["edges"]
    assert len(nodes) == 60
    records = json.loads((fabricated_site / "downloads/papers.json").read_text())
    assert len(edges) == sum(len(r.get("relations", [])) for r in records) > 0
    assert {n["data"]["kind"] for n in nodes} <= {"attack", "defense", "analysis", "benchmark", "survey"}
    assert nodes[0]["data"]["url"] == "papers/paper-00000/"


def test_implementation_page_reads_module_without_importing_it(fabricated_site: Path):
    page = (fabricated_site / "implementations/demo/index.html").read_text()
    assert "<code>rho</code>" in page and "<code>2.0</code>" in page and "paper Table 5" in page
    assert "Perturb the weights." in page and "Step against the perturbed gradient." in page  # continued step
    assert "Measured: miniature world" in page and "test box" in page
    assert "<td>16.5 &#91;12.5–20.5&#93;</td><td>91</td>" in page and "<td>1, 2</td>" in page  # two seeds, one row
    assert "Measured: miniature world, other settings" in page and "<td>rho=0.5</td>" in page
    assert "second miniature world" not in page  # no results file for it: no empty section
    assert "&lt;script&gt;" in page and "<script>alert" not in page
    index = (fabricated_site / "implementations/index.html").read_text()
    assert "../implementations/demo/" in index or "demo/" in index
    # The index compares every method: the demo's two seeds merged, sft's single row as it is.
    assert "All methods in the miniature world" in index and "mean over training seeds 1, 2" in index
    assert "<td>16.5 &#91;12.5–20.5&#93; / 91</td>" in index and "<td>40 / 91</td>" in index


def test_timeline_has_a_bar_per_quarter(fabricated_site: Path):
    page = (fabricated_site / "explore/timeline/index.html").read_text()
    assert page.count('<svg class="hftkb-chart"') == 2
    by_stage = page.split('id="by-stage"')[1].split('id="by-kind"')[0]
    total = sum(int(n) for n in re.findall(r"<title>\d{4} Q\d: (\d+) ", by_stage))
    assert total == 60


def test_vendored_cytoscape_matches_package_lock():
    lock = json.loads((REPO / "package-lock.json").read_text())
    version = lock["packages"]["node_modules/cytoscape"]["version"]
    assert json.loads((REPO / "package.json").read_text())["dependencies"]["cytoscape"] == version
    vendored = (REPO / "site/assets/vendor/cytoscape/cytoscape.min.js").read_text()
    assert f'.version="{version}"' in vendored
    assert "Copyright" in (REPO / "site/assets/vendor/cytoscape/LICENSE").read_text()


def test_no_generated_page_is_committed():
    for folder in ("papers", "kinds", "stages", "tags", "venues", "faq", "implementations", "browse"):
        assert not (REPO / "site" / folder).exists(), f"site/{folder} is generated at build time"


def test_build_command_refuses_an_invalid_kb(tmp_path: Path, fabricated_kb: Path, capsys):
    import shutil

    from hftkb.cli import main

    kb = tmp_path / "kb"
    shutil.copytree(fabricated_kb, kb)
    record = kb / "papers/paper-00003.yaml"
    record.write_text(re.sub(r"^kind: ", "kind: nonsense_", record.read_text(), flags=re.M))
    assert main(["build", "--kb", str(kb), "--out", str(tmp_path / "out")]) == 1
    out = capsys.readouterr()
    assert re.search(r"paper-00003\.yaml:\d+: E304", out.out)
    assert "Traceback" not in out.out + out.err
    assert not (tmp_path / "out").exists()


def test_hand_written_page_at_a_generated_path_is_an_error(tmp_path: Path, fabricated_kb: Path, capsys):
    from mkdocs.exceptions import Abort

    from hftkb.commands.build import build_site

    project = copy_project(tmp_path)
    (project / "site/browse").mkdir()
    (project / "site/browse/index.md").write_text("# mine\n")
    with pytest.raises(Abort):
        build_site(fabricated_kb, tmp_path / "out", project / "mkdocs.yml")
    assert "site/browse/index.md: this path is generated from the records" in capsys.readouterr().err


def test_unknown_marker_fails_the_build(tmp_path: Path, fabricated_kb: Path, capsys):
    from mkdocs.exceptions import Abort

    from hftkb.commands.build import build_site

    project = copy_project(tmp_path)
    (project / "site/about.md").write_text("# About\n\n<!-- hftkb:countz -->\n")
    with pytest.raises(Abort):
        build_site(fabricated_kb, tmp_path / "out", project / "mkdocs.yml")
    assert "site/about.md: unknown marker <!-- hftkb:countz -->" in capsys.readouterr().err


@pytest.mark.slow
def test_real_corpus_builds_strictly(tmp_path: Path):
    """The repository's own records build with --strict (validation first, like `hftkb build`)."""
    from hftkb.cli import main

    assert main(["build", "--kb", str(REPO), "--out", str(tmp_path / "public")]) == 0
    assert (tmp_path / "public/papers/vaccine-2024/index.html").is_file()
    assert (tmp_path / "public/implementations/vaccine/index.html").is_file()
    # A Usage command continued with a backslash keeps its line break (the docstrings are raw strings for it).
    antidote = (tmp_path / "public/implementations/antidote/index.html").read_text()
    assert "--method antidote \\\n" in antidote


def test_docstring_inline_markup_is_rendered_and_escaped():
    from hftkb.site.implementations import _inline

    assert _inline("set `rho<1` and *not* ``a`b``, W * (1 - M)") == (
        "set <code>rho&lt;1</code> and <em>not</em> <code>a&#96;b</code>, W * (1 - M)")
    assert _inline("<script>*x*</script>") == "&lt;script&gt;<em>x</em>&lt;/script&gt;"


def test_papers_bib_equals_the_bibtex_helper(fabricated_site: Path, fabricated_kb: Path):
    """papers.bib is joined from the per-page entries: it must stay what hftkb.bibtex.papers_to_bibtex writes."""
    from hftkb.bibtex import papers_to_bibtex
    from hftkb.validate import load_corpus

    corpus = load_corpus(fabricated_kb)
    expected = papers_to_bibtex(corpus.papers.values(), corpus.taxonomy.get("venues"))
    assert (fabricated_site / "downloads/papers.bib").read_text() == expected


def test_cached_navigation_of_paper_pages_is_what_material_renders(tmp_path: Path, fabricated_kb: Path, fabricated_site: Path):
    """The tabs and sidebars rendered once for all paper pages (site/overrides/main.html) are byte for byte
    those Material renders for each page without the cache."""
    from hftkb.commands.build import build_site

    project = copy_project(tmp_path)
    overrides = project / "site/overrides/main.html"
    overrides.write_text(overrides.read_text().split("{% block tabs %}")[0])  # the cache blocks removed
    build_site(fabricated_kb, tmp_path / "out", project / "mkdocs.yml")
    for paper_id in ("paper-00000", "paper-00031", "paper-00059"):
        page = f"papers/{paper_id}/index.html"
        assert (tmp_path / "out" / page).read_text() == (fabricated_site / page).read_text(), page


def test_palette_script_file_is_materials_own(fabricated_site: Path):
    """site/assets/javascripts/palette.js stands in for Material's inline palette script on every page: it must
    stay Material's code (an upgrade that changes the script fails here), and pages load it in the header."""
    import material

    partial = (Path(material.__file__).parent / "templates/partials/javascripts/palette.html").read_text()
    inline = re.search(r"<script>(.*)</script>", partial, re.S).group(1)
    ours = (REPO / "site/assets/javascripts/palette.js").read_text().splitlines()[-1]
    assert ours == inline.strip()
    page = (fabricated_site / "papers/paper-00001/index.html").read_text()
    header = re.search(r"<header.*?</header>", page, re.S).group(0)
    assert '<script src="../../assets/javascripts/palette.js"></script>' in header and "__md_get(\"__palette\")" not in page


def test_serve_watches_the_records(fabricated_kb: Path, monkeypatch):
    """`mkdocs serve` rebuilds on a record change: the hook registers the record folders with the server."""
    from types import SimpleNamespace

    from hftkb.site import hooks

    watched = []
    server = SimpleNamespace(watch=lambda path: watched.append(Path(path)))
    monkeypatch.setenv("HFTKB_KB", str(fabricated_kb))
    hooks.on_serve(server, SimpleNamespace(config_file_path=str(REPO / "mkdocs.yml")), None)
    kb = fabricated_kb.resolve()
    assert {kb / "papers", kb / "taxonomy", kb / "faq", kb / "reference_impl/registry.py"} <= set(watched)


def test_building_the_site_never_imports_torch(fabricated_kb: Path, tmp_path: Path):
    """hftkb never imports torch: the implementation pages read the defense modules with ast."""
    import subprocess
    import sys

    script = (
        "import sys; from pathlib import Path; from hftkb.cli import main; "
        f"code = main(['build', '--kb', {str(fabricated_kb)!r}, '--out', {str(tmp_path / 'out')!r}]); "
        "assert code == 0, code; assert 'torch' not in sys.modules, 'torch was imported'; print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]


def test_build_command_and_options_are_documented_in_the_readme():
    """datasette habit: an option of `hftkb build` that the README's site section does not mention fails here."""
    from hftkb.cli import build_parser, discover_commands

    page = (REPO / "site" / "reference" / "site.md").read_text(encoding="utf-8")  # moved out of the README
    section = page[page.index("<!-- section:site -->"):page.index("<!-- /section:site -->")]
    parser = build_parser(discover_commands())
    build = next(a for a in parser._actions if a.dest == "command").choices["build"]
    assert "hftkb build" in section
    for action in build._actions:
        for option in action.option_strings:
            if option not in ("-h", "--help"):
                assert option in section, f"hftkb build {option} is not documented in the README site section"


def test_cli_reference_lists_every_command_with_its_options(fabricated_site: Path):
    """The CLI page is generated from the parsers the CLI runs: every command module is on it, with its help."""
    from hftkb.cli import discover_commands

    import html

    page = (fabricated_site / "reference/cli/index.html").read_text()
    text = html.unescape(page)
    for name in discover_commands():
        assert f'<h2 id="hftkb-{name}"><code>hftkb {name}</code></h2>' in page, name
        assert f"usage: hftkb {name} [-h] [--kb DIR]" in text, name
    assert "--format {text,github}" in text  # a real option of `hftkb validate`, from its parser
    assert '<a href="../../reference/error-codes/">Error codes</a>' in page
    assert 'href="../cli/"' in (fabricated_site / "reference/error-codes/index.html").read_text()  # in the nav


def test_page_of_incomplete_records_is_for_curators(fabricated_site: Path, fabricated_kb: Path):
    from hftkb.validate import load_corpus

    corpus = load_corpus(fabricated_kb)
    page = (fabricated_site / "browse/incomplete/index.html").read_text()
    listed = set(re.findall(r'<tr data-missing="([^"]*)"><td><a href="\.\./\.\./papers/([^/]+)/"', page))
    listed_ids = {paper_id for _, paper_id in listed}
    assert listed_ids and listed_ids < set(corpus.papers)  # some records are complete, some are not
    for missing, paper_id in listed:
        paper = corpus.papers[paper_id]
        # Read off the record itself, not through hftkb.completeness: each named field is really absent.
        for name in missing.split():
            value = {"code": [l for l in paper.links if l.kind == "code"],
                     "identifiers": [v for v in paper.identifiers.model_dump().values() if v]}.get(name, getattr(paper, name, None))
            assert value in (None, "", []), (paper_id, name, value)
    no_venue = [p.id for p in corpus.papers.values() if p.venue is None]
    assert no_venue and set(no_venue) <= listed_ids
    # Completeness is for curators (issue 26): not on the taxonomy pages readers browse, and the page of incomplete
    # records sits in the navigation under About -> Reference, not under Browse.
    term = (fabricated_site / "stages/fine_tuning/index.html").read_text()
    assert "records complete" not in term and "data-complete=" not in term
    assert "<th>Complete</th>" not in (fabricated_site / "stages/index.html").read_text()
    nav = (fabricated_site / "reference/error-codes/index.html").read_text()
    assert 'href="../../browse/incomplete/"' in nav
