"""Issue 26 item 3: no raw Markdown or reST on a rendered page.

The scan reads every built page of the repository's own site (what readers get) and looks at the visible text
outside code blocks (tests/site/raw_markup.py says what counts); the detector itself is tested on samples
first, so a pass means something. The docstring renderer of the implementation pages is tested on the reST
and Markdown shapes the defense modules use.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from raw_markup import raw_markup


@pytest.mark.parametrize("html, kind", [
    ("<p>The same answers with `hftkb faq`.</p>", "backtick"),
    ("<p>on the ``same`` batch</p>", "backtick"),
    ("<li>on the **same** harmful batch</li>", "bold"),
    ("<p>Python::</p>", "rst literal marker"),
    ("<p>see :func:`apply`</p>", "rst role"),
    ("<td>[Vaccine](../vaccine.md)</td>", "markdown link"),
    ("<p>## Usage</p>", "markdown heading"),
    ("<p>command line\n* did not run: lisa x identity_shift</p>", "list item in text"),
    ("<p>Usage\n-----\n</p>", "underline"),
    ("<td>harmful_score</td>", "metric key"),
])
def test_the_detector_finds_each_kind_of_raw_markup(html, kind):
    assert kind in [found for found, _ in raw_markup(f"<html><body>{html}</body></html>")]


def test_the_detector_ignores_code_and_rendered_markup():
    html = ("<p>Run <code>hftkb faq `q`</code> on the <strong>same</strong> batch.</p>"
            "<pre><code>**x** :: `y`\n* z\n-----</code></pre><script>var a = '`';</script>"
            "<p>Algorithm (eq. 3): step 1. Done: w - alpha * g_h.</p>")
    assert raw_markup(html) == []


def test_no_built_page_shows_raw_markup(real_site: Path):
    found = {}
    pages = [p for p in real_site.rglob("*.html") if "assets" not in p.relative_to(real_site).parts]
    assert len(pages) > 300  # the whole site: papers, terms, FAQ, implementations, authors, reference
    for page in pages:
        raw = raw_markup(page.read_text(encoding="utf-8"))
        if raw:
            found[str(page.relative_to(real_site))] = raw[:3]
    assert found == {}


def test_docstring_sections_render_rest_and_markdown_shapes():
    from hftkb.site.implementations import _prose

    html = _prose(
        "Move the weights on the **same** harmful batch, ``perturb_aware`` off, `lam` = 5.\n\n"
        "Command line (the run needs a harmful set)::\n\n"
        "    python -m reference_impl run x.yaml --method booster\n\n"
        "Python::\n\n"
        "    from reference_impl.defenses import booster\n\n"
        "1. Perturb the weights.\n2. Step against the\n   perturbed gradient.\n"
    )
    assert "<strong>same</strong>" in html and "<code>perturb_aware</code>" in html and "<code>lam</code>" in html
    assert "<p>Command line (the run needs a harmful set):</p><pre><code>python -m reference_impl run" in html
    assert "<p>Python:</p><pre><code>from reference_impl.defenses import booster</code></pre>" in html
    assert "<ol><li>Perturb the weights.</li><li>Step against the perturbed gradient.</li></ol>" in html
    assert raw_markup(html) == []
