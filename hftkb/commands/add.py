"""`hftkb add arxiv:2402.01109 --kind defense --stage alignment`: a new paper record from its arXiv id.

Steps: read the ids (bare, ``arxiv:``-prefixed or arXiv URLs; all checked before any request), refuse the ones
already in the knowledge base, fetch the rest (hftkb.arxiv_client: cache, back-off, offline message), build
each record (hftkb.importers.arxiv), run the validation checks on it, and write papers/<id>.yaml only when
they pass. Exit 0 when every id was added, 1 when any was refused, 2 for bad usage.

`hftkb add --from-triage discover/2026-12-07.yaml` adds the entries a curator marked `decision: keep` in a
triage file of `hftkb discover` (hftkb.triage), each with its own kind, stage and options, through the same
building and checks. It is all or nothing: a malformed entry, a paper the knowledge base has, an unknown term,
or a record that would not validate is reported (file and line) and no record is written. It needs no network:
the entry holds the title, authors, date and abstract, and the DOI comes from the arXiv cache when there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "add papers from their arXiv ids or URLs (fetches the metadata, writes records that validate)"

TRACKS = ("main", "findings", "workshop", "short", "demo", "journal", "preprint", "submission")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("refs", nargs="*", metavar="ARXIV", help="arXiv ids or URLs: arxiv:2402.01109, 2402.01109v2, https://arxiv.org/abs/2402.01109")
    parser.add_argument("--from-triage", type=Path, metavar="FILE",
                        help="add the entries marked `decision: keep` in a triage file of `hftkb discover` (instead of ids)")
    parser.add_argument("--kind", help="kind of paper, from taxonomy/kinds.yaml (attack, defense, ...); required")
    parser.add_argument("--stage", help="stage, from taxonomy/stages.yaml (alignment, fine_tuning, post_fine_tuning, ...)")
    parser.add_argument("--sub-family", help="sub-family, from taxonomy/sub_families.yaml")
    parser.add_argument("--attack-type", help="attack type, from taxonomy/attack_types.yaml")
    parser.add_argument("--tag", action="append", default=[], metavar="TAG", help="a tag from taxonomy/tags.yaml (repeatable)")
    parser.add_argument("--need", action="append", default=[], metavar="NEED", help="what the method needs, from taxonomy/needs.yaml (repeatable)")
    parser.add_argument("--venue", help="where it was published: a venue from taxonomy/venues.yaml, optionally with the year ('NeurIPS 2024'); default: arXiv preprint")
    parser.add_argument("--venue-year", type=int, help="the venue's year, when --venue does not say it")
    parser.add_argument("--track", choices=TRACKS, help="the venue's track (default: main; preprint for arXiv)")
    parser.add_argument("--short-name", help="the method's short name, e.g. Vaccine (one paper at a time); default: the title's name before a colon")
    parser.add_argument("--code", action="append", default=[], metavar="URL", help="a code repository URL (repeatable; one paper at a time)")
    parser.add_argument("--summary", help="the summary, two to four sentences in your own words (one paper at a time); refused when it copies the abstract")
    parser.add_argument("--dry-run", action="store_true", help="print the records that would be written; write nothing")
    parser.add_argument("--no-cache", action="store_true", help="ask arXiv even for ids answered before")


def _fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _venue(args: argparse.Namespace, corpus) -> dict | None | str:
    """The venue mapping from the options, None for the default, or an error message (str)."""
    from hftkb.importers.arxiv import venue_from_text

    if args.venue is None:
        if args.venue_year is not None or args.track is not None:
            return "--venue-year and --track need --venue"
        return None
    found = venue_from_text(corpus, args.venue)
    if found is None:
        import difflib

        names = sorted(corpus.taxonomy.get("venues", {}))
        hint = difflib.get_close_matches(args.venue.lower(), names, n=3)
        return f"--venue {args.venue!r} is not in taxonomy/venues.yaml" + (f" (did you mean {', '.join(hint)}?)" if hint else "")
    name, year = found
    track = args.track or ("preprint" if name == "arxiv" else "main")
    venue = {"name": name, "year": args.venue_year or year, "track": track}
    return {key: value for key, value in venue.items() if value is not None}


def _refuse_invalid(arxiv_id: str, problems) -> None:
    print(f"refused: the record for arxiv:{arxiv_id} would not validate; nothing written for it:", file=sys.stderr)
    for problem in problems:
        print(f"  {problem.format()}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    if args.from_triage is not None:
        return _run_triage(args)
    from hftkb.arxiv_client import ArxivUnavailable, BadArxivRef, fetch_arxiv, parse_arxiv_ref
    from hftkb.validate import load_corpus
    from hftkb.importers.staging import DuplicateIndex, record_path

    # 1. Everything that needs no network first: a typo costs no request.
    if not args.refs:
        return _fail("give arXiv ids (hftkb add arxiv:2402.01109 --kind defense) or --from-triage FILE")
    ids = []
    for ref in args.refs:
        try:
            ids.append(parse_arxiv_ref(ref))
        except BadArxivRef as err:
            return _fail(str(err))
    ids = list(dict.fromkeys(ids))
    if len(ids) > 1 and (args.short_name or args.code or args.summary):
        return _fail("--short-name, --code and --summary apply to one paper: add the papers one at a time")
    if not args.kind:
        return _fail("--kind is required (e.g. --kind defense); the terms are in taxonomy/kinds.yaml")
    if not (args.kb / "papers").is_dir() and not (args.kb / "taxonomy").is_dir():
        return _fail(f"{args.kb} is not a knowledge base (no papers/ or taxonomy/ directory); use --kb DIR")

    corpus = load_corpus(args.kb)
    venue = _venue(args, corpus)
    if isinstance(venue, str):
        return _fail(venue)
    duplicates = DuplicateIndex(corpus.papers.values())
    refused = 0
    wanted = []
    for arxiv_id in ids:
        existing = duplicates.find_identifier("arxiv", arxiv_id)
        if existing:
            print(f"refused: arxiv:{arxiv_id} is already in the knowledge base as '{existing}' ({record_path(corpus, existing)})", file=sys.stderr)
            refused += 1
        else:
            wanted.append(arxiv_id)
    if not wanted:
        return 1

    # 2. Ask arXiv (or the cache).
    try:
        answers = fetch_arxiv(wanted, use_cache=not args.no_cache)
    except ArxivUnavailable as err:
        return _fail(str(err), 1)

    # 3. Build, check and write each record.
    options = {"kind": args.kind, "stage": args.stage, "sub_family": args.sub_family, "attack_type": args.attack_type,
               "tags": args.tag, "needs": args.need, "venue": venue, "short_name": args.short_name,
               "code_links": args.code, "summary": args.summary}
    items = []
    for arxiv_id in wanted:
        if answers.get(arxiv_id) is None:
            print(f"refused: arXiv has no paper arxiv:{arxiv_id} (or its answer lacked a date)", file=sys.stderr)
            refused += 1
        else:
            items.append((arxiv_id, answers[arxiv_id], options, None))
    checked, missing, refused_ids = _build(corpus, items, duplicates)
    refused += len(refused_ids)
    _write(args, corpus, checked, missing)
    return 1 if refused else 0


def _build(corpus, items, duplicates, source: str | None = None):
    """Build and check a record per (arxiv id, ArxivPaper, record options, venue given?) item.

    Returns (records that passed, {id: fields still missing for --strict}, the arXiv ids refused); each
    refusal is printed. `source` replaces the record's default `source:` line.
    """
    from hftkb.importers.arxiv import RecordRefused, record_from_arxiv, venue_hints
    from hftkb.importers.staging import check_new, record_path, taken_ids, validate_new
    from hftkb.completeness import missing_fields
    from hftkb.strict import check_new_record

    taken = taken_ids(corpus)
    refused = []
    to_write = []
    for arxiv_id, answer, options, _ in items:
        try:
            data = record_from_arxiv(answer, corpus, taken, **options)
        except RecordRefused as err:
            print(f"refused: {err}", file=sys.stderr)
            refused.append(arxiv_id)
            continue
        if source:
            data["source"] = source
        found = duplicates.find(data["title"], data.get("identifiers", {}))
        if found:
            print(f"refused: arxiv:{arxiv_id} is already in the knowledge base as '{found[0]}' ({found[1]}: {record_path(corpus, found[0])})", file=sys.stderr)
            refused.append(arxiv_id)
            continue
        paper, problems = validate_new(corpus, data)
        if problems:
            _refuse_invalid(arxiv_id, problems)
            refused.append(arxiv_id)
            continue
        taken.add(paper.id)
        duplicates.add(paper)
        to_write.append((arxiv_id, answer, paper, options))

    # The corpus checks, once for all new records, exactly as `hftkb validate` will run them.
    problems = check_new(corpus, [paper for _, _, paper, _ in to_write])
    checked, missing = [], {}
    for arxiv_id, answer, paper, options in to_write:
        own = [p for p in problems if p.path == str(record_path(corpus, paper.id))]
        # `validate --strict` on the written record would compare the summary with this same abstract (cached).
        own += [p for p in check_new_record(str(record_path(corpus, paper.id)), paper, answer.summary) if p.code == "W603"]
        if own:
            _refuse_invalid(arxiv_id, own)
            refused.append(arxiv_id)
            continue
        missing[paper.id] = missing_fields(paper)
        if not answer.authors:
            print(f"warning: arXiv lists no author for arxiv:{arxiv_id}; add them to the record", file=sys.stderr)
        hints = venue_hints(corpus, answer.comment) if options.get("venue") is None else []
        if hints:
            print(f"note: arXiv comment for arxiv:{arxiv_id}: {answer.comment!r}; if published, pass --venue (e.g. --venue {hints[-1]!r})", file=sys.stderr)
        checked.append(paper)
    return checked, missing, refused


def _write(args, corpus, papers, missing) -> None:
    from hftkb.importers.staging import record_path, write_new
    from hftkb.yamlio import dump_record

    if args.dry_run:
        for paper in papers:
            print(f"# {record_path(corpus, paper.id)} (dry run: not written)")
            print(dump_record(paper), end="")
        return
    for path, paper in zip(write_new(corpus, papers), papers):
        print(f"wrote {path}: {paper.title}")
        if missing[paper.id]:
            print(f"  still missing for `hftkb validate --strict`: {', '.join(missing[paper.id])}")
    if papers:
        print("next: complete the record (a summary in your own words, ...), then run `hftkb validate --strict`")


def _run_triage(args: argparse.Namespace) -> int:
    """`hftkb add --from-triage FILE`: the kept entries of a triage file, all or nothing."""
    from hftkb.arxiv_client import ArxivPaper, cached_paper
    from hftkb.importers.staging import DuplicateIndex
    from hftkb.triage import read_triage
    from hftkb.validate import load_corpus

    if args.refs:
        return _fail("give either arXiv ids or --from-triage FILE, not both")
    per_paper = [name for name, value in (("--kind", args.kind), ("--stage", args.stage), ("--sub-family", args.sub_family),
                 ("--attack-type", args.attack_type), ("--venue", args.venue), ("--short-name", args.short_name),
                 ("--summary", args.summary), ("--tag", args.tag), ("--need", args.need), ("--code", args.code)) if value]
    if per_paper:
        return _fail(f"{', '.join(per_paper)}: with --from-triage, set these per entry in the triage file")
    path = args.from_triage
    if not path.is_file():
        return _fail(f"{path}: no such triage file")
    if not (args.kb / "papers").is_dir() and not (args.kb / "taxonomy").is_dir():
        return _fail(f"{args.kb} is not a knowledge base (no papers/ or taxonomy/ directory); use --kb DIR")
    corpus = load_corpus(args.kb)
    kept, problems, total = read_triage(path, corpus)
    items = []
    for entry in kept:
        options = dict(entry.options)
        venue = None
        if "venue" in options:
            venue = _venue(argparse.Namespace(venue=str(options.pop("venue")), venue_year=None, track=None), corpus)
            if isinstance(venue, str):
                problems.append(_triage_problem(path, entry.line, "E703", venue.replace("--venue ", "venue: ")))
                continue
        code = options.pop("code", [])
        cached = cached_paper(entry.arxiv_id)  # discover cached every paper it found: DOI, comment, categories
        answer = ArxivPaper(
            arxiv_id=entry.arxiv_id, version=cached.version if cached else None, title=entry.title,
            authors=entry.authors, published=entry.date.isoformat(), updated=cached.updated if cached else entry.date.isoformat(),
            summary=entry.abstract or (cached.summary if cached else ""), comment=cached.comment if cached else None,
            journal_ref=cached.journal_ref if cached else None, doi=cached.doi if cached else None,
        )
        items.append((entry.arxiv_id, answer, {
            "kind": entry.kind, "stage": options.get("stage"), "sub_family": options.get("sub_family"),
            "attack_type": options.get("attack_type"), "tags": options.get("tags", []), "needs": options.get("needs", []),
            "venue": venue, "short_name": options.get("short_name"),
            "code_links": code if isinstance(code, list) else [code], "summary": options.get("summary"),
        }, entry.line))
    if problems:
        for problem in sorted(problems):
            print(problem.format(), file=sys.stderr)
        print(f"refused: {len(problems)} problem(s) in {path}; no record written", file=sys.stderr)
        return 1
    if not items:
        print(f"{path}: no entry has `decision: keep` ({total} entries); nothing to add")
        return 0
    generated = _generated(path)
    source = f"hftkb discover {generated} (arXiv search, taxonomy/discover.yaml), kept in {path.name}"
    checked, missing, refused = _build(corpus, items, DuplicateIndex(corpus.papers.values()), source=source)
    if refused:
        lines = {arxiv_id: line for arxiv_id, _, _, line in items}
        for arxiv_id in refused:
            print(f"{path}:{lines[arxiv_id]}: the kept entry arxiv:{arxiv_id} would not make a valid record (see above)", file=sys.stderr)
        print(f"refused: {len(refused)} kept entr{'y' if len(refused) == 1 else 'ies'} of {path}; no record written", file=sys.stderr)
        return 1
    _write(args, corpus, checked, missing)
    return 0


def _triage_problem(path: Path, line: int, code: str, message: str):
    from hftkb.problems import Problem

    return Problem(str(path), line, code, message)


def _generated(path: Path) -> str:
    """The triage file's `generated:` date, or its name's date."""
    import re

    match = re.search(r"^generated: (\d{4}-\d{2}-\d{2})$", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return match.group(1) if match else path.stem
