"""Every record string is neutralised: HTML, Markdown, Jinja and URL schemes."""

from hftkb.site.escape import esc, front_matter_string, safe_url
from hftkb.site.markdown_safe import render_markdown


def test_esc_neutralises_html_markdown_and_jinja():
    out = esc("<script>alert('x')</script> [a](javascript:b) {{ config }} {% raw %} `code` \"q\"")
    for raw in ("<", ">", "'", '"', "[", "]", "{", "}", "`"):
        assert raw not in out
    assert out.startswith("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &#91;a&#93;(javascript:b) &#123;&#123; config")
    # one pass: an entity made for one character is never escaped again
    assert "&amp;#" not in out and "&&#35;" not in out


def test_esc_none_is_empty_and_plain_text_is_kept():
    assert esc(None) == ""
    assert esc("Vaccine 2024") == "Vaccine 2024"


def test_safe_url_accepts_http_only():
    assert safe_url("https://arxiv.org/abs/2402.01109") == "https://arxiv.org/abs/2402.01109"
    assert safe_url('https://x.org/?a="b"') == "https://x.org/?a=&quot;b&quot;"
    for bad in ("javascript:alert(1)", " JAVASCRIPT:alert(1)", "data:text/html,<script>", "//evil.org/x", "/relative", ""):
        assert safe_url(bad) is None


def test_front_matter_string_is_escaped_json():
    assert front_matter_string("A <b>\n title") == '"A &lt;b&gt; title"'


def test_markdown_keeps_formatting_and_drops_anything_executable():
    html = render_markdown(
        "**bold** and [ok](https://x.org) and [bad](javascript:alert(1)) and ![i](javascript:alert(2))\n\n"
        "<script>alert(3)</script> <b onmouseover=alert(4)>b</b>\n\n{: onclick=\"alert(5)\" }\n\n* item"
    )
    assert "<strong>bold</strong>" in html
    assert '<a href="https://x.org">ok</a>' in html
    assert "<li>item</li>" in html
    assert "javascript:" not in html  # the bad link keeps its text, loses its target; the image is gone
    assert "<span>bad</span>" in html
    assert "<script" not in html and "<b " not in html and "<img" not in html
    assert 'onclick="' not in html and "<b onmouseover" not in html  # only as escaped text
