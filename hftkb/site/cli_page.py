"""`reference/cli.md`: every `hftkb` command with its options, from the same argparse parsers the CLI runs.

Generated at build time, so the page cannot drift from the code: a new module in hftkb/commands/ appears here
on the next build.
"""

from __future__ import annotations

import argparse

from hftkb.site.context import SiteContext
from hftkb.site.escape import esc

#: Help text is wrapped at this width whatever the terminal of the build (the page must be reproducible).
HELP_WIDTH = 96


def cli_page(site: SiteContext) -> str:
    from hftkb.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sections, contents = [], []
    for name, sub in subparsers.choices.items():
        sub.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=HELP_WIDTH)
        anchor = f"hftkb-{name}"
        contents.append(f'<li><a href="#{anchor}"><code>hftkb {esc(name)}</code></a>: {esc(sub.description or "")}</li>')
        sections.append(
            f'<h2 id="{anchor}"><code>hftkb {esc(name)}</code></h2>'
            f"<p>{esc(sub.description or '')}</p><pre><code>{esc(sub.format_help())}</code></pre>"
        )
    body = (
        '<h1 id="cli">Command-line reference</h1>'
        "<p>Every <code>hftkb</code> command, with the help it prints (<code>hftkb COMMAND --help</code>). Problems in "
        "records are reported as <code>path:line: CODE message</code>; the codes are listed in "
        f'<a href="{site.link("reference/cli.md", "reference/error-codes.md")}">Error codes</a>.</p>'
        f"<ul>{''.join(contents)}</ul>" + "".join(sections)
    )
    return f"---\ntitle: Command-line reference\n---\n\n{body}\n"
