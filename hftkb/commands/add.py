"""`hftkb add arxiv:2402.01109 --kind defense --stage alignment`: a new paper record from its arXiv id.

Steps: read the ids (bare, ``arxiv:``-prefixed or arXiv URLs; all checked before any request), refuse the ones
already in the knowledge base, fetch the rest (hftkb.arxiv_client: cache, back-off, offline message), build
each record (hftkb.importers.arxiv), run the validation checks on it, and write papers/<id>.yaml only when
they pass. Exit 0 when every id was added, 1 when any was refused, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import sys

HELP = "add papers from their arXiv ids or URLs (fetches the metadata, writes records that validate)"

TRACKS = ("main", "findings", "workshop", "short", "demo", "journal", "preprint", "submission")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("refs", nargs="+", metavar="ARXIV", help="arXiv ids or URLs: arxiv:2402.01109, 2402.01109v2, https://arxiv.org/abs/2402.01109")
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
    from hftkb.arxiv_client import ArxivUnavailable, BadArxivRef, fetch_arxiv, parse_arxiv_ref
    from hftkb.validate import load_corpus
    from hftkb.importers.arxiv import RecordRefused, record_from_arxiv, venue_hints
    from hftkb.importers.staging import DuplicateIndex, check_new, record_path, taken_ids, validate_new, write_new
    from hftkb.completeness import missing_fields
    from hftkb.strict import check_new_record
    from hftkb.yamlio import dump_record

    # 1. Everything that needs no network first: a typo costs no request.
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
    taken = taken_ids(corpus)
    to_write = []
    for arxiv_id in wanted:
        answer = answers.get(arxiv_id)
        if answer is None:
            print(f"refused: arXiv has no paper arxiv:{arxiv_id} (or its answer lacked a date)", file=sys.stderr)
            refused += 1
            continue
        try:
            data = record_from_arxiv(
                answer, corpus, taken,
                kind=args.kind, stage=args.stage, sub_family=args.sub_family, attack_type=args.attack_type,
                tags=args.tag, needs=args.need, venue=venue, short_name=args.short_name, code_links=args.code,
                summary=args.summary,
            )
        except RecordRefused as err:
            print(f"refused: {err}", file=sys.stderr)
            refused += 1
            continue
        found = duplicates.find(data["title"], data.get("identifiers", {}))
        if found:
            print(f"refused: arxiv:{arxiv_id} is already in the knowledge base as '{found[0]}' ({found[1]}: {record_path(corpus, found[0])})", file=sys.stderr)
            refused += 1
            continue
        paper, problems = validate_new(corpus, data)
        if problems:
            _refuse_invalid(arxiv_id, problems)
            refused += 1
            continue
        taken.add(paper.id)
        duplicates.add(paper)
        to_write.append((arxiv_id, answer, paper))

    # The corpus checks, once for all new records, exactly as `hftkb validate` will run them.
    problems = check_new(corpus, [paper for _, _, paper in to_write])
    checked, missing = [], {}
    for arxiv_id, answer, paper in to_write:
        own = [p for p in problems if p.path == str(record_path(corpus, paper.id))]
        # `validate --strict` on the written record would compare the summary with this same abstract (cached).
        own += [p for p in check_new_record(str(record_path(corpus, paper.id)), paper, answer.summary) if p.code == "W603"]
        if own:
            _refuse_invalid(arxiv_id, own)
            refused += 1
            continue
        missing[paper.id] = missing_fields(paper)
        if not answer.authors:
            print(f"warning: arXiv lists no author for arxiv:{arxiv_id}; add them to the record", file=sys.stderr)
        hints = venue_hints(corpus, answer.comment) if venue is None else []
        if hints:
            print(f"note: arXiv comment for arxiv:{arxiv_id}: {answer.comment!r}; if published, pass --venue (e.g. --venue {hints[-1]!r})", file=sys.stderr)
        checked.append(paper)
    to_write = checked

    if args.dry_run:
        for paper in to_write:
            print(f"# {record_path(corpus, paper.id)} (dry run: not written)")
            print(dump_record(paper), end="")
    else:
        for path, paper in zip(write_new(corpus, to_write), to_write):
            print(f"wrote {path}: {paper.title}")
            if missing[paper.id]:
                print(f"  still missing for `hftkb validate --strict`: {', '.join(missing[paper.id])}")
        if to_write:
            print("next: complete the record (a summary in your own words, ...), then run `hftkb validate --strict`")
    return 1 if refused else 0
