"""The measured-results tables of hand-written pages, dressed for readers at build time.

`python -m reference_impl table ... --write PAGE` writes each table between `<!-- results:NAME -->` markers as
plain Markdown, and tests/reference_impl checks the page source holds exactly that output. Readers should see
method names rather than registry ids, each linking to its implementation page, stage names rather than keys,
and the pairs that did not run as a note of their own: the command puts them as "* did not run: ..." lines
straight under its last paragraph, where Markdown runs them into that paragraph. So the source stays the
command's output and the build rewrites the blocks (the `on_page_markdown` hook).
"""

from __future__ import annotations

import posixpath
import re

from hftkb.site.context import SiteContext

BLOCK = re.compile(r"(<!-- results:([\w.-]+) -->\n)(.*?)(<!-- /results:\2 -->)", re.S)
#: `python -m bench.bench_overhead --readme PAGE` writes its table between these markers; dressed the same way.
OVERHEAD_BLOCK = re.compile(r"(<!-- overhead -->\n)(.*?)(<!-- /overhead -->)", re.S)
DID_NOT_RUN = re.compile(r"^\* did not run: (?:(\w+) x (\w+): )?(.*)$")
HEADERS = {"method": "Method", "stage": "Stage", "setting": "Setting", "seed": "Seed"}


def STAGE_LIKE(site: SiteContext) -> set[str]:
    return {"baseline", *site.corpus.taxonomy.get("stages", {})}


def _markdown_escape(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>|])", r"\\\1", text)


def _dress_cell(site: SiteContext, src: str, cell: str) -> str:
    value = cell.strip()
    if value in site.methods:
        target = posixpath.relpath(f"implementations/{value}.md", posixpath.dirname(src) or ".")
        return f" [{_markdown_escape(site.method_label(value))}]({target}) "
    if value == "baseline":
        return " Baseline "
    stages = site.corpus.taxonomy.get("stages", {})
    if value in stages:
        return f" {_markdown_escape(stages[value].name)} "
    return cell


def _dress_block(site: SiteContext, src: str, body: str) -> str:
    lines, stopped = [], []
    for line in body.splitlines():
        failed = DID_NOT_RUN.match(line)
        if failed:
            method, attack, why = failed.groups()
            who = f"{_markdown_escape(site.method_label(method))} × `{attack}`: " if method else ""
            stopped.append(f"    - {who}{_markdown_escape(why)}")
        elif line.startswith("|") and not set(line) <= set("|-: "):
            cells = line.split("|")
            if not (lines and lines[-1].startswith("|")):  # a table's first row is its header: name the columns
                cells = [f" {HEADERS.get(c.strip(), c.strip())} " if c.strip() else c for c in cells]
            else:
                cells[1] = _dress_cell(site, src, cells[1]) if len(cells) > 2 else cells[1]
                cells[2:] = [_dress_cell(site, src, c) if c.strip() in STAGE_LIKE(site) else c
                             for c in cells[2:]]
            lines.append("|".join(cells))
        else:
            lines.append(line)
    text = "\n".join(lines) + "\n"
    if stopped:
        text += '\n!!! note "Did not run"\n\n' + "\n".join(stopped) + "\n\n"
    return text


def dress_results_blocks(site: SiteContext, src: str, markdown: str) -> str:
    markdown = BLOCK.sub(lambda m: m.group(1) + _dress_block(site, src, m.group(3)) + m.group(4), markdown)
    return OVERHEAD_BLOCK.sub(lambda m: m.group(1) + _dress_block(site, src, m.group(2)) + m.group(3), markdown)
