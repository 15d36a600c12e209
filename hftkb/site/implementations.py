"""The Reference implementations section, read from `reference_impl` without importing it.

`hftkb` never imports torch, and the defense modules do (lazily or not), so each module is read with `ast`:
its docstring (Paper / Algorithm / Deviations / Usage sections), the `stage` and `needs` of its
`METHOD = MethodSpec(...)` (or the older `STAGE` / `NEEDS` constants), and the fields of its
`Config` dataclass with their defaults and `metadata` (help, source). Measured numbers come from the committed
results files `reference_impl/results/*.json` (the main miniature-world table, its ablation, the second world,
SmolLM2-135M, the defense-by-attack matrices and the overhead bench).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from hftkb.site.context import SiteContext
from hftkb.site.escape import esc, front_matter_string


@dataclass
class ConfigField:
    name: str
    default: str  # source text of the default
    help: str = ""
    source: str = ""


@dataclass
class ImplInfo:
    name: str
    module: str
    path: Path | None
    stage: str | None = None
    needs: list[str] = field(default_factory=list)
    summary: str = ""
    sections: dict[str, str] = field(default_factory=dict)  # "Paper", "Algorithm", "Deviations", "Usage" -> text
    fields: list[ConfigField] = field(default_factory=list)
    error: str | None = None  # why the module could not be read


#: A docstring section starts with its name at the start of a line, either as "Algorithm (DEFENSES.md 5.1):" or
#: numpydoc-style, the name alone underlined with dashes.
SECTION_HEADER = re.compile(r"^(Paper|Algorithm|Deviations|Usage)(?:\b[^\n]*?:|[ \t]*\n-{3,}[ \t]*$)", re.MULTILINE)


def _literal(node) -> object:
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return None


def _config_fields(cls: ast.ClassDef, source: str) -> list[ConfigField]:
    fields = []
    for statement in cls.body:
        if not isinstance(statement, ast.AnnAssign) or not isinstance(statement.target, ast.Name):
            continue
        entry = ConfigField(statement.target.id, "")
        value = statement.value
        if isinstance(value, ast.Call) and getattr(value.func, "id", getattr(value.func, "attr", "")) == "field":
            for keyword in value.keywords:
                if keyword.arg == "default":
                    entry.default = ast.get_source_segment(source, keyword.value) or ""
                elif keyword.arg == "default_factory":
                    entry.default = (ast.get_source_segment(source, keyword.value) or "") + "()"
                elif keyword.arg == "metadata":
                    metadata = _literal(keyword.value)
                    if isinstance(metadata, dict):
                        entry.help = str(metadata.get("help", ""))
                        entry.source = str(metadata.get("source", ""))
        elif value is not None:
            entry.default = ast.get_source_segment(source, value) or ""
        fields.append(entry)
    return fields


def read_module(name: str, module: str, root: Path) -> ImplInfo:
    """What the site shows about one registered method, from the source of `module` under `root`."""
    path = root / (module.replace(".", "/") + ".py")
    info = ImplInfo(name=name, module=module, path=path if path.is_file() else None)
    if info.path is None:
        info.error = f"{module} is not in this checkout yet"
        return info
    source = path.read_text(encoding="utf-8")
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        info.error = f"{path.name} does not parse (line {err.lineno})"
        return info
    docstring = ast.get_docstring(tree) or ""
    info.summary = docstring.split("\n\n", 1)[0].replace("\n", " ").strip()
    headers = list(SECTION_HEADER.finditer(docstring))
    for index, match in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(docstring)
        info.sections[match.group(1)] = docstring[match.start():end].strip()
    constants: dict[str, object] = {}  # module-level NAME = literal, for METHOD = MethodSpec(needs=NEEDS, ...)
    for statement in tree.body:
        targets = statement.targets if isinstance(statement, ast.Assign) else []
        for target in targets:
            if not isinstance(target, ast.Name):
                continue
            if target.id == "METHOD" and isinstance(statement.value, ast.Call):
                for keyword in statement.value.keywords:  # MethodSpec(stage="...", needs=(...), ...)
                    value = constants.get(keyword.value.id) if isinstance(keyword.value, ast.Name) else _literal(keyword.value)
                    if keyword.arg == "stage" and value is not None:
                        info.stage = value
                    elif keyword.arg == "needs" and value is not None:
                        info.needs = list(value)
            else:
                constants[target.id] = _literal(statement.value)
                if target.id == "STAGE":
                    info.stage = constants[target.id]
                elif target.id == "NEEDS":
                    info.needs = list(constants[target.id] or [])
        if isinstance(statement, ast.ClassDef) and statement.name == "Config":
            info.fields = _config_fields(statement, source)
    return info


def read_results(root: Path, filename: str) -> dict | None:
    path = root / "reference_impl" / "results" / filename
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("rows"), list) else None


#: The testbed the site's measured tables come from: the miniature world v2 (issue 11), its world seed 0 (the other
#: world seeds hold SFT's calibration runs only, and would otherwise be averaged into SFT's row).
WORLD_RESULTS = "miniature_world_v2.json"


#: The second testbed (issue 11): SmolLM2-135M-Instruct on a CPU (reference_impl/testbeds/smollm2.py), the same
#: document schema, rows with testbed "smollm2_135m".
SMOLLM2_RESULTS = "smollm2_135m.json"


def world_results(root: Path) -> dict | None:
    data = read_results(root, WORLD_RESULTS)
    if data is None:
        return None
    return {**data, "rows": [r for r in data["rows"] if isinstance(r, dict) and r.get("world_seed", 0) == 0]}


def load_implementations(root: Path, methods: dict) -> dict[str, ImplInfo]:
    return {name: read_module(name, method.module, root) for name, method in methods.items()}


# -- rendering --------------------------------------------------------------------------------------------


def _section_body(text: str) -> str:
    """The section's text without its header (and underline), dedented."""
    import textwrap

    first, _, rest = text.partition("\n")
    if re.match(r"^-{3,}", rest):
        rest = rest.partition("\n")[2]
        head = ""
    else:
        head = first.split(":", 1)[1].strip() if ":" in first else ""
    return (head + "\n" + textwrap.dedent(rest)).strip("\n")


_INLINE = re.compile(r"``(.+?)``|`([^`]+)`|(?<![\w*])\*([^*\s](?:[^*]*[^*\s])?)\*(?![\w*])|\*\*([^*\s](?:[^*]*[^*\s])?)\*\*")


def _inline(text: str) -> str:
    """Docstring inline markup -> HTML: ``code`` and `code` spans, *emphasis*, **strong**; everything else escaped."""
    out, last = [], 0
    for match in _INLINE.finditer(text):
        out.append(esc(text[last:match.start()]))
        code = match.group(1) or match.group(2)
        if code is not None:
            out.append(f"<code>{esc(code)}</code>")
        elif match.group(4) is not None:
            out.append(f"<strong>{esc(match.group(4))}</strong>")
        else:
            out.append(f"<em>{esc(match.group(3))}</em>")
        last = match.end()
    out.append(esc(text[last:]))
    return "".join(out)


def _prose(text: str) -> str:
    """Docstring prose -> HTML: numbered steps and '*' bullets become lists, indented blocks after a blank line
    (equations, commands) preformatted text, the rest paragraphs. Every piece of text is escaped."""
    blocks: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []
    code: list[str] = []
    kind = None
    previous_blank = True

    def flush_paragraph():
        if paragraph:
            text = " ".join(paragraph)
            blocks.append(f"<p>{_inline(text[:-1] if text.endswith('::') else text)}</p>")  # reST's "::"
            paragraph.clear()

    def flush_list():
        nonlocal kind
        if items:
            tag = "ol" if kind == "ol" else "ul"
            blocks.append(f"<{tag}>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + f"</{tag}>")
            items.clear()
        kind = None

    def flush_code():
        if code:
            import textwrap

            blocks.append(f"<pre><code>{esc(textwrap.dedent(chr(10).join(code)).strip(chr(10)))}</code></pre>")
            code.clear()

    for line in text.splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        numbered = re.match(r"^\d+\.\s+(.*)", stripped)
        bullet = re.match(r"^[*-]\s+(.*)", stripped)
        if not stripped:
            if code:
                code.append("")
            previous_blank = True
            continue
        if indent >= 4 and (previous_blank or code) and not (items and not previous_blank):
            flush_paragraph()
            flush_list()
            code.append(line)
        elif (numbered or bullet) and indent < 4:
            flush_code()
            flush_paragraph()
            new_kind = "ol" if numbered else "ul"
            if kind and kind != new_kind:
                flush_list()
            kind = new_kind
            items.append((numbered or bullet).group(1))
        elif items and indent > 0 and not previous_blank:
            items[-1] += " " + stripped  # continuation of a list item
        else:
            flush_code()
            flush_list()
            if previous_blank:
                flush_paragraph()
            paragraph.append(stripped)
        previous_blank = False
    flush_code()
    flush_paragraph()
    flush_list()
    return "".join(blocks)


#: Column headings of the results tables; a key not listed here is shown as it is in the JSON.
COLUMN_LABELS = {
    "harmful_ratio": "p (harmful ratio)", "hs": "HS %", "hs_plus": "HS+ %", "fa": "FA %", "refusal_rate": "refusals %",
    "benign_answered": "benign answered %", "setting": "setting", "seeds": "seeds", "seed": "seed",
    "step_time_s": "step time (s)", "step_time_ratio": "× SFT step", "peak_mem_mb": "peak memory (MB)",
    "peak_mem_ratio": "× SFT memory", "time_s": "time (s)",
}


def _rows_table(rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th>{esc(COLUMN_LABELS.get(c, c)).replace('&#95;', '_')}</th>" for c in columns)

    def cell(value):
        if isinstance(value, float):
            return f"{value:.4g}"
        return esc(value)

    body = "".join("<tr>" + "".join(f"<td>{cell(row.get(c, ''))}</td>" for c in columns) + "</tr>" for row in rows)
    return f'<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _results_block(name: str, data: dict | None, title: str, first: list[str]) -> str:
    if data is None:
        return f"<h2>{title}</h2><p>Not measured yet (no results file in this checkout).</p>"
    rows = over_seeds([row for row in data["rows"] if isinstance(row, dict) and row.get("method") == name])
    if not rows:
        return f"<h2>{title}</h2><p>No row for this method in the results file yet.</p>"
    columns = [c for c in first if any(c in row for row in rows)]
    # The rest is context shared by every row (model, task, paper id, ...): shown once, not as columns.
    shared = {k: rows[0][k] for k in sorted({key for row in rows for key in row} - set(columns) - {"method", "stage"})
              if all(row.get(k) == rows[0][k] for row in rows)}
    columns += sorted({key for row in rows for key in row} - set(columns) - set(shared) - {"method", "stage"})
    meta = f"Measured on {esc(data.get('machine', '?'))}, {esc(data.get('date', '?'))}, with <code>{esc(data.get('command', '?'))}</code>."
    if shared:
        meta += " Every row: " + ", ".join(f"{esc(COLUMN_LABELS.get(k, k))} {esc(v)}" for k, v in shared.items()) + "."
    return f"<h2>{title}</h2><p>{meta}</p>{_rows_table(rows, columns)}"


def over_seeds(rows: list[dict]) -> list[dict]:
    """Rows that differ only in their training seed, merged into one: metric means, HS with its [min–max], the
    seeds listed. Rows without a seed, or with a single seed per setting, pass through unchanged."""
    metrics = ("hs", "hs_plus", "fa", "refusal_rate", "benign_answered")
    groups: dict[str, list[dict]] = {}
    for row in rows:
        key = json.dumps({k: v for k, v in row.items() if k not in metrics and k != "seed"}, sort_keys=True, default=str)
        groups.setdefault(key, []).append(row)
    merged = []
    for group in groups.values():
        if len(group) == 1:
            merged.append(group[0])
            continue
        row = {k: v for k, v in group[0].items() if k not in metrics and k != "seed"}
        for metric in metrics:
            values = [r[metric] for r in group if isinstance(r.get(metric), (int, float))]
            if values:
                mean = sum(values) / len(values)
                row[metric] = f"{mean:.1f} [{min(values):g}–{max(values):g}]" if metric == "hs" else round(mean, 1)
        row["seeds"] = ", ".join(str(r.get("seed")) for r in group)
        merged.append(row)
    return merged


def method_page(site: SiteContext, method, info: ImplInfo) -> str:
    src = f"implementations/{method.name}.md"
    stage = site.term_link(src, "stages", method.stage) if method.paper else "baseline (no defense)"
    paper = ""
    if method.paper:
        paper = f"<p>Paper: {site.paper_link(src, method.paper)}"
        paper += f" (arXiv {esc(method.arxiv)})</p>" if method.arxiv else "</p>"
    needs = ", ".join(esc(site.term_name("needs", n)) for n in info.needs) or "nothing beyond the fine-tuning data"
    parts = [
        f'<h1 id="method">{esc(site.method_label(method.name))}</h1>',
        f'<p class="hftkb-kicker">Registry name <code>{esc(method.name)}</code> (<code>--method {esc(method.name)}</code>)</p>',
        f'<p class="hftkb-kicker">Stage: {stage} · module <code>{esc(method.module)}</code></p>',
        f"<p>{_inline(info.summary or method.summary)}</p>",
        paper,
    ]
    if info.error:
        parts.append(f'<div class="admonition warning"><p class="admonition-title">Not available</p><p>{esc(info.error)}.</p></div>')
    parts.append(f"<h2>What it needs</h2><p>{needs}</p>")
    if "Algorithm" in info.sections:
        parts.append("<h2>Algorithm</h2>" + _prose(_section_body(info.sections["Algorithm"])))
    if "Deviations" in info.sections:
        parts.append("<h2>Deviations from the paper's code</h2>" + _prose(_section_body(info.sections["Deviations"])))
    if info.fields:
        rows = "".join(
            f"<tr><td><code>{esc(f.name)}</code></td><td><code>{esc(f.default)}</code></td><td>{_inline(f.help)}</td>"
            f"<td>{_inline(f.source)}</td></tr>"
            for f in info.fields
        )
        parts.append(
            "<h2>Settings and their defaults</h2><table><thead><tr><th>Setting</th>"
            f"<th>Default</th><th>Meaning</th><th>Source of the default</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    usage = _section_body(info.sections["Usage"]) if "Usage" in info.sections else ""
    commands = "\n".join(command for _, command in site.run_commands(method.name))
    run = f"<pre><code>{esc(commands)}</code></pre>" if commands else ""
    if usage and site.run_commands(method.name):
        # The docstrings write `run config.yaml` as a placeholder: show the first testbed's file instead.
        first = site.run_commands(method.name)[0][0]
        usage = re.sub(r"(?<=run )config\.yaml\b", f"reference_impl/configs/{first}.yaml", usage)
    if usage:
        # A reST-style section ("Command line::" then an indented block) is prose with code; a plain one is code.
        shown = _prose(usage) if "::" in usage else f"<pre><code>{esc(usage)}</code></pre>"
        run = (f"<p>On each testbed of this checkout:</p>{run}" if run else "") + shown
    parts.append(f"<h2>Run it</h2>{run or '<p>No testbed config in this checkout.</p>'}")
    parts.append(
        _results_block(method.name, world_results(site.kb_dir), "Measured: miniature world v2",
                       ["harmful_ratio", "hs", "fa", "refusal_rate", "hs_plus", "seeds"])
    )
    smollm2 = read_results(site.kb_dir, SMOLLM2_RESULTS)
    if smollm2 is not None:  # the block appears once the SmolLM2 runs are committed
        parts.append(_results_block(method.name, smollm2, "Measured: SmolLM2-135M",
                                    ["harmful_ratio", "hs", "fa", "refusal_rate", "hs_plus", "seeds"]))
    for filename, title in (("miniature_world_ablation.json", "Measured: miniature world, other settings"),
                            ("miniature_world_seed1.json", "Measured: a second miniature world (world seed 1)")):
        data = read_results(site.kb_dir, filename)
        if data is not None and any(isinstance(r, dict) and r.get("method") == method.name for r in data["rows"]):
            parts.append(_results_block(method.name, data, title, ["setting", "harmful_ratio", "hs", "fa", "refusal_rate", "seeds"]))
    parts.append(measured_and_reported(site, method))
    parts.append(
        _results_block(method.name, read_results(site.kb_dir, "overhead.json"), "Measured: overhead",
                       ["model", "step_time_s", "step_time_ratio", "peak_mem_mb", "peak_mem_ratio", "time_s"])
    )
    body = "\n".join(p for p in parts if p)
    return f"---\ntitle: {front_matter_string(method.name)}\nhide:\n  - toc\n---\n\n<div class=\"hftkb-method\">\n{body}\n</div>\n"


def index_page(site: SiteContext) -> str:
    src = "implementations/index.md"
    rows = []
    for name, method in site.methods.items():
        info = site.implementations.get(name)
        paper = site.paper_link(src, method.paper) if method.paper else "baseline"
        state = "" if info is None or info.error is None else " <em>(not in this checkout yet)</em>"
        rows.append(
            f'<tr><td><a href="{site.link(src, f"implementations/{name}.md")}">{esc(site.method_label(name))}</a>{state}</td>'
            f"<td>{site.term_link(src, 'stages', method.stage) if method.paper else 'baseline'}</td>"
            f"<td>{esc(method.summary)}</td><td>{paper}</td></tr>"
        )
    intro = (
        "Runnable PyTorch implementations (transformers + peft) of defenses from the survey, with the two baselines "
        "they are compared to. Each page lists the algorithm, the defaults and where they come from, how to run it, "
        "and what was measured."
    )
    table = (
        '<table><thead><tr><th>Method</th><th>Stage</th><th>What it does</th><th>Paper</th></tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )
    empty = "<p>No method is registered yet.</p>" if not rows else ""
    return (
        '---\ntitle: "Reference implementations"\nhide:\n  - toc\n---\n\n<h1 id="implementations">Reference implementations</h1>\n'
        f"<p>{esc(intro)}</p>\n<pre><code>pip install -e '.[impl]'\n{esc(next((c for _, c in site.run_commands('vaccine')), 'python -m reference_impl run --help'))}</code></pre>\n"
        f"{table}{empty}\n{comparison_block(site, src)}\n{matrix_block(site, src)}\n"
    )


def final_rows(data: dict) -> list[dict]:
    """The rows of the models after the whole pipeline (not the aligned-only evaluations), seeds merged."""
    return over_seeds([r for r in data["rows"] if isinstance(r, dict) and r.get("stage", "final") == "final"])


def _number_text(value) -> str:
    """A number as it reads best (98.3, 40), or a merged-seeds cell ('16.5 [12.5–20.5]') unchanged."""
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def world_summary(site: SiteContext, name: str, ratio: float = 0.1) -> str:
    """One sentence for a paper page: the method's HS against SFT's in the miniature world at p = `ratio`."""
    data = world_results(site.kb_dir)
    if data is None:
        return ""
    found = {r.get("method"): r for r in final_rows(data) if r.get("harmful_ratio") == ratio}
    if name not in found or "sft" not in found or name == "sft":
        return ""
    return (f"In the miniature world at its paper defaults, its HS at p = {ratio:g} is {_number_text(found[name]['hs'])}, "
            f"against {_number_text(found['sft']['hs'])} for plain SFT (HS in %; over seeds: mean [min–max]).")


def comparison_block(site: SiteContext, src: str) -> str:
    """Every method side by side on each testbed that has results: the miniature world, then SmolLM2-135M."""
    return _comparison_table(
        site, src, world_results(site.kb_dir), "miniature-world", "All methods in the miniature world",
        "The miniature world is a synthetic CPU-sized setting (a 2-layer Llama): it tests each method under a real "
        "attack, it does not reproduce the papers' numbers.", "the README discusses what the table shows.",
    ) + _comparison_table(
        site, src, read_results(site.kb_dir, SMOLLM2_RESULTS), "smollm2-135m", "All methods on SmolLM2-135M",
        "SmolLM2-135M-Instruct is a real pretrained model small enough for a CPU, aligned by the protocol first and "
        "attacked with its own harmful answers (<code>reference_impl/testbeds/smollm2.py</code>); it does not "
        "reproduce the papers' numbers either.", "",
    )


def _comparison_table(site: SiteContext, src: str, data: dict | None, anchor: str, title: str, about: str,
                      after: str) -> str:
    """HS (mean and range over seeds) and FA per harmful ratio, a row per method; `about` and `after` are HTML."""
    if data is None:
        return ""
    rows = final_rows(data)
    ratios = sorted({r["harmful_ratio"] for r in rows if isinstance(r.get("harmful_ratio"), (int, float))})
    cell = {(r.get("method"), r.get("harmful_ratio")): r for r in rows}
    head = "".join(f"<th>p = {ratio:g}</th>" for ratio in ratios)
    body = []
    for name in site.methods:
        if not any((name, ratio) in cell for ratio in ratios):
            continue
        cells = []
        for ratio in ratios:
            row = cell.get((name, ratio))
            hs = _number_text(row["hs"]) if row else "–"
            fa = row.get("fa") if row else None
            cells.append(f"<td>{esc(hs)}" + (f" / {esc(_number_text(fa))}" if isinstance(fa, (int, float)) else "") + "</td>")
        body.append(f'<tr><td><a href="{site.link(src, f"implementations/{name}.md")}">{esc(site.method_label(name))}</a></td>{"".join(cells)}</tr>')
    if not body:
        return ""
    seeds = sorted({str(r.get("seed")) for r in data["rows"] if isinstance(r, dict) and r.get("seed") is not None})
    return (
        f'<h2 id="{anchor}">{title}</h2>'
        "<p>HS / FA in % after the user's fine-tuning at each harmful ratio p, paper defaults"
        + (f", mean over training seeds {esc(', '.join(seeds))} with the HS range in brackets" if len(seeds) > 1 else "")
        + f". {about} Measured on {esc(data.get('machine', '?'))}, {esc(data.get('date', '?'))}, with "
        f"<code>{esc(data.get('command', '?'))}</code>" + (f"; {after}" if after else ".") + "</p>"
        f'<table data-testbed="{anchor}"><thead><tr><th>Method</th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )


# -- the defense-by-attack matrix (reference_impl/results/matrix*.json, the attacks issue) --------------------


def load_matrices(root: Path) -> list[tuple[str, dict]]:
    """[(file name, data)] of every matrix results file, in name order; [] before the first one exists."""
    folder = root / "reference_impl" / "results"
    found = []
    for path in sorted(folder.glob("matrix*.json")) if folder.is_dir() else []:
        data = read_results(root, path.name)
        if data is not None:
            found.append((path.name, data))
    return found


def matrix_tables(root: Path) -> list[dict]:
    """One entry per (file, testbed): {file, testbed, data, rows}, rows of the final models with seeds merged."""
    tables = []
    for name, data in load_matrices(root):
        by_testbed: dict[str, list[dict]] = {}
        for row in final_rows(data):
            if row.get("method") is None or row.get("attack") is None:
                continue
            testbed = str(row.get("testbed") or data.get("testbed") or name[:-5])
            by_testbed.setdefault(testbed, []).append(row)
        for testbed, rows in by_testbed.items():
            tables.append({"file": name, "testbed": testbed, "data": data, "rows": rows})
    return tables


def _hs_fa(row: dict | None) -> str:
    if row is None:
        return "–"
    hs = esc(_number_text(row["hs"])) if row.get("hs") is not None else "–"
    fa = row.get("fa")
    return hs + (f" / {esc(_number_text(fa))}" if fa is not None else "")


def _measured_by(data: dict) -> str:
    return (f"Measured on {esc(data.get('machine', '?'))}, {esc(data.get('date', '?'))}, with "
            f"<code>{esc(data.get('command', '?'))}</code>.")


def matrix_block(site: SiteContext, src: str) -> str:
    """Defense rows, attack columns, HS / FA in each cell, per testbed, with the command that made it."""
    tables = matrix_tables(site.kb_dir)
    if not tables:
        return ""
    parts = ['<h2 id="matrix">Defenses against each attack</h2><p>HS / FA in % after the attack, one table per '
             "testbed; defenses in rows, attacks in columns. The testbeds are small synthetic settings: they rank "
             "defenses under each attack, they do not reproduce the papers' numbers.</p>"]
    for table in tables:
        rows = table["rows"]
        attacks = list(dict.fromkeys(str(r["attack"]) for r in rows))
        cell = {(r["method"], str(r["attack"])): r for r in rows}
        methods = [m for m in site.methods if any(r["method"] == m for r in rows)]
        methods += [m for m in dict.fromkeys(r["method"] for r in rows) if m not in methods]
        head = "".join(f"<th>{esc(a)}</th>" for a in attacks)
        body = []
        for method in methods:
            name = (f'<a href="{site.link(src, f"implementations/{method}.md")}">{esc(site.method_label(method))}</a>'
                    if method in site.methods else esc(method))
            cells = "".join(f"<td>{_hs_fa(cell.get((method, a)))}</td>" for a in attacks)
            body.append(f'<tr data-method="{esc(method)}"><td>{name}</td>{cells}</tr>')
        # The pairs the run could not train (a method whose schedule does not fit an attack, ...), as the file says.
        failures = [esc(f) for f in table["data"].get("failures") or [] if isinstance(f, str)]
        parts.append(
            f'<h3 id="matrix-{esc(table["testbed"])}">{esc(table["testbed"])}</h3><p>{_measured_by(table["data"])} '
            f'From <code>reference_impl/results/{esc(table["file"])}</code>.</p>'
            f'<div class="hftkb-scroll"><table class="hftkb-matrix" data-testbed="{esc(table["testbed"])}"><thead><tr>'
            f"<th>Defense / attack</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
            + (f'<p class="hftkb-note">Not run (–): {"; ".join(failures)}</p>' if failures else "")
        )
    return "".join(parts)


def measured_and_reported(site: SiteContext, method) -> str:
    """On a method's page: its matrix rows next to what its paper reports (the record's results)."""
    tables = [t for t in matrix_tables(site.kb_dir) if any(r["method"] == method.name for r in t["rows"])]
    if not tables:
        return ""
    parts = ["<h2 id=\"measured-vs-reported\">Measured against each attack, and what the paper reports</h2>"]
    for table in tables:
        rows = [r for r in table["rows"] if r["method"] == method.name]
        sft = {str(r["attack"]): r for r in table["rows"] if r["method"] == "sft"}
        body = "".join(
            f"<tr><td>{esc(r['attack'])}</td><td>{_hs_fa(r)}</td><td>{_hs_fa(sft.get(str(r['attack'])))}</td></tr>"
            for r in rows
        )
        parts.append(
            f"<h3>Measured: {esc(table['testbed'])}</h3><p>{_measured_by(table['data'])}</p>"
            "<table><thead><tr><th>Attack</th><th>HS / FA (this method)</th><th>HS / FA (SFT)</th></tr></thead>"
            f"<tbody>{body}</tbody></table>"
        )
    paper = site.corpus.papers.get(method.paper) if method.paper else None
    if paper is not None:
        # What the papers report for this method (its own and other papers' tables), beside the measured rows.
        from hftkb.site.as_reported import as_reported_table

        reported = as_reported_table(site, f"implementations/{method.name}.md", paper.id, heading="h3")
        if reported:
            parts.append(reported.replace(">As reported<", ">Reported by the papers<", 1))
    return "".join(parts)


def implementation_pages(site: SiteContext) -> dict[str, str]:
    pages = {"implementations/index.md": index_page(site)}
    for name, method in site.methods.items():
        pages[f"implementations/{name}.md"] = method_page(site, method, site.implementations[name])
    return pages
