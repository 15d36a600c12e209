"""YAML in and out: a strict, position-aware loader and the canonical writer used by `hftkb fmt`.

Reading. PyYAML's own loaders are too forgiving for a knowledge base: they keep the last
of two equal keys in silence, expand aliases (a billion-laughs file eats the memory), honour tags, and turn an
unquoted `2310.03690` into the float 2310.0369. So this module builds the data itself from the parser's event
stream (libyaml's C parser when available, for speed) and

* rejects anchors, aliases, tags, duplicate keys, several documents, empty files, files over 1 MiB, non-UTF-8
  bytes, directories, symlinks that leave the knowledge base and nesting deeper than `MAX_DEPTH`, each with
  its line;
* resolves plain scalars with YAML 1.1's usual rules (so a date is a `datetime.date`, `42` an int), but remembers
  the source text of every plain scalar that did not become a string, so that a schema error on it can say
  "quote it" and show exactly what was written;
* records where every value and every mapping key starts (`Positions`), so that pydantic's error locations can
  be mapped back to a line.

Speed (bench/bench_load.py). Most files are clean, and their positions are never looked at: `load_yaml` reads
them with a lean builder that skips the bookkeeping and works positions out only when a problem asks for a
line; anything unusual is read again by the full builder, which reports it. `load_yaml_many` parses a large
corpus in one forked process per CPU, and `ParseCache` keeps parses between runs.

Writing. `dump_record` writes a record in one canonical form (field order of the model, defaults left out,
`# yaml-language-server` header for papers): `hftkb fmt` writes it and `hftkb fmt --check` compares with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import pickle
import stat
from pathlib import Path
from typing import Any, Iterator

import yaml

from hftkb.problems import Problem

MAX_BYTES = 1024 * 1024  # 1 MiB: the biggest real record is a few kB; anything larger is a mistake or an attack.
#: Deepest nesting of lists and mappings a file may have. Real records nest four levels at most (results ->
#: a row -> metrics -> a value); a hostile `notes: [[[[...]]]]` 1,200 levels deep would otherwise exhaust
#: Python's recursion limit in the builders below (and in pydantic after them). Checked while parsing (E114).
MAX_DEPTH = 64

SCHEMA_HEADER = "# yaml-language-server: $schema=_schema.json"

_Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when installed (it is, in the wheels)
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_STR_TAG = "tag:yaml.org,2002:str"

# Cached parses are only valid for the loader that produced them.
_LOADER_VERSION = hashlib.blake2b(Path(__file__).read_bytes() + yaml.__version__.encode(), digest_size=8).hexdigest()

Loc = tuple  # a path into the data: keys (str) and list indices (int), as pydantic reports them


class LoadError(Exception):
    """The file could not be turned into data; `problems` says why (each with its line)."""

    def __init__(self, problems: list[Problem], data: Any = None, positions: Positions | None = None):
        super().__init__("; ".join(p.format() for p in problems))
        self.problems = problems
        # When the document could still be read (duplicate key, alias, tag, impossible date), the data read
        # so far: validation can go on and report the file's other problems too.
        self.data = data
        self.positions = positions


class Positions:
    """Where each part of a loaded document is in its file (1-based line and column)."""

    def __init__(self) -> None:
        self.values: dict[Loc, tuple[int, int]] = {}  # loc -> start of the value
        self.keys: dict[Loc, tuple[int, int]] = {}  # loc -> start of the mapping key that holds it
        self.plain: dict[Loc, str] = {}  # loc -> source text of a plain scalar that did not load as a string

    def locate(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        """Line and column for `loc`, or for its deepest known ancestor (a missing field -> its parent)."""
        loc = tuple(loc)
        while True:
            if key and loc in self.keys:
                return self.keys[loc]
            if loc in self.values:
                # A missing field's nearest ancestor is a mapping: point at the key that introduces it.
                return self.keys.get(loc, self.values[loc]) if key else self.values[loc]
            if not loc:
                return (1, 1)
            loc = loc[:-1]

    def line(self, loc: Loc, *, key: bool = False) -> int:
        return self.locate(loc, key=key)[0]


# ---------------------------------------------------------------------------------------------------------
# Reading


def read_text(path: Path, kb_root: Path | None = None) -> str:
    """The file's text, after the checks that need no parsing (raises LoadError)."""
    where = str(path)
    try:
        info = os.lstat(path)
    except OSError:
        raise LoadError([Problem(where, 0, "E101", "cannot read the file: missing or inaccessible")]) from None
    if stat.S_ISLNK(info.st_mode):
        if kb_root is not None:
            target, root = path.resolve(), kb_root.resolve()
            if target != root and root not in target.parents:
                raise LoadError([Problem(where, 0, "E109", f"symbolic link points outside the knowledge base: {target}")])
        try:
            info = os.stat(path)
        except OSError:
            raise LoadError([Problem(where, 0, "E101", "cannot read the file: broken symbolic link")]) from None
    if not stat.S_ISREG(info.st_mode):
        what = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise LoadError([Problem(where, 0, "E101", f"cannot read the file: {what}")])
    if info.st_size > MAX_BYTES:
        raise LoadError([Problem(where, 0, "E102", f"file is {info.st_size:,} bytes; records must be under {MAX_BYTES:,}")])
    try:
        raw = _read_bytes(path, info.st_size)
    except OSError:
        raise LoadError([Problem(where, 0, "E101", "cannot read the file: missing or inaccessible")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise LoadError([Problem(where, line, "E103", f"not UTF-8: byte 0x{raw[err.start]:02x} cannot be decoded")]) from None
    if text.startswith("\ufeff"):
        text = text[1:]  # a UTF-8 byte-order mark is harmless: editors on Windows add it
    if not text.strip():
        raise LoadError([Problem(where, 0, "E104", "empty file")])
    return text


def _read_bytes(path: Path, size_hint: int) -> bytes:
    """At most MAX_BYTES + 1 bytes of the file. Asking for the size `lstat` gave (plus one, to see the end)
    rather than for a whole mebibyte saves allocating a 1 MiB buffer per file: a third of the reading time
    of a large corpus."""
    fd = os.open(path, os.O_RDONLY)
    try:
        parts, total, want = [], 0, min(size_hint, MAX_BYTES) + 1
        while total <= MAX_BYTES:
            chunk = os.read(fd, min(want, MAX_BYTES + 1 - total))
            if not chunk:
                break
            parts.append(chunk)
            total += len(chunk)
            want = 65536  # the file grew since lstat: read on, up to the limit
        return b"".join(parts)
    finally:
        os.close(fd)


def load_yaml(path: Path, kb_root: Path | None = None, cache: ParseCache | None = None) -> tuple[Any, Positions]:
    """Load one YAML file strictly: (data, positions), or LoadError listing every problem found.

    A clean file (the usual case) is read by the lean `_quick_parse`; its positions are worked out only if a
    problem needs a line. Anything unusual goes through the full `parse_yaml`, which reports it.
    """
    text = read_text(path, kb_root)
    where = str(path)
    key = _digest(text) if cache is not None else None
    data = cache.get(key) if cache is not None else None
    if data is None:
        try:
            data = _quick_parse(text)
        except _NeedsFullParse:
            return parse_yaml(text, where)  # raises on problems: only clean parses are remembered
        if cache is not None:
            cache.put(key, data)
    return data, _LazyPositions(text, where)


def load_yaml_many(paths: list[Path], kb_root: Path | None = None, cache: ParseCache | None = None,
                   workers: int = 1) -> Iterator[tuple[Any, Positions] | LoadError]:
    """`load_yaml` for each path, in order: yields (data, positions) or the LoadError it raised.

    With `workers` > 1 the load is shared by that many processes (parsing is most of the time of a cold load
    of a large corpus, see bench/bench_load.py): this one parses the first files itself, while workers - 1
    forked processes parse the rest, which the caller validates as they arrive. This process also validates
    everything and unpickles what the workers send, so its own share is small (a fifth with 2 processes):
    that costs less CPU than a worker per CPU and an idle main process. The workers only handle clean files:
    whatever they cannot read or parse quickly is loaded again here by `load_yaml`, so the problems reported
    are exactly those of a serial load.
    """
    own = len(paths) // (4 * (workers - 1) + 1) if workers > 1 else len(paths)  # files this process parses
    outcomes = _parse_in_workers(paths[own:], kb_root, cache, workers - 1) if len(paths) - own > 1 else None
    try:
        for index, path in enumerate(paths):
            outcome = next(outcomes) if outcomes is not None and index >= own else None
            try:
                if outcome is None:  # serial load, or the worker left this file to us
                    yield load_yaml(path, kb_root, cache)
                    continue
                key, text, hit, data = outcome
                if hit:  # the worker found the text in the cache: the data is already here
                    data = cache.get(key)
                elif cache is not None:
                    cache.put(key, data)
                yield data, _LazyPositions(text, str(path))
            except LoadError as err:
                yield err
    finally:
        if outcomes is not None:
            outcomes.close()  # ends the worker processes


# Set in each worker by _start_worker: with 'fork', these arguments reach the worker without being pickled.
_WORKER_STATE: dict[str, Any] = {}


def _start_worker(kb_root: Path | None, cached: set[bytes] | None) -> None:
    _WORKER_STATE.update(kb_root=kb_root, cached=cached)


def _parse_in_workers(paths: list[Path], kb_root: Path | None, cache: ParseCache | None,
                      workers: int) -> Iterator[tuple[bytes | None, str, bool, Any] | None] | None:
    """Per path, in order: (text digest, text, cache hit?, data or None for a hit), or None to load it here.

    None instead of an iterator when processes cannot be forked safely here: the caller loads serially.
    """
    import multiprocessing
    import threading

    if "fork" not in multiprocessing.get_all_start_methods():
        return None  # spawning fresh interpreters costs more than it saves
    if threading.active_count() > 1:
        return None  # forking a threaded process (a server, `mkdocs serve`) can copy a lock held by another thread
    cached = set(cache._old) if cache is not None else None
    names = [str(path) for path in paths]
    size = max(1, -(-len(names) // (workers * 16)))  # small chunks: the caller starts on the first ones soon
    chunks = [names[i:i + size] for i in range(0, len(names), size)]

    def outcomes() -> Iterator[tuple[bytes | None, str, bool, Any] | None]:
        try:
            pool = multiprocessing.get_context("fork").Pool(workers, _start_worker, (kb_root, cached))
        except OSError:  # no processes to be had: everything is loaded by the caller
            yield from (None for _ in names)
            return
        with pool:  # leaving it (all read, or the caller closed us) ends the workers
            for part in pool.imap(_parse_chunk, chunks):
                yield from part

    return outcomes()


def _parse_chunk(names: list[str]) -> list[tuple[bytes | None, str, bool, Any] | None]:
    kb_root, cached = _WORKER_STATE["kb_root"], _WORKER_STATE["cached"]
    out: list[tuple[bytes | None, str, bool, Any] | None] = []
    for name in names:
        try:
            text = read_text(Path(name), kb_root)
            key = _digest(text) if cached is not None else None
            if cached is not None and key in cached:
                out.append((key, text, True, None))
            else:
                out.append((key, text, False, _quick_parse(text)))
        except Exception:  # noqa: BLE001 - whatever went wrong, the serial load in the parent reports it
            out.append(None)
    return out


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class _LazyPositions(Positions):
    """Positions of a cached parse, computed from the text only when a problem needs a line number."""

    def __init__(self, text: str, where: str):  # no super().__init__(): the attributes come from __getattr__
        self._text = text
        self._where = where

    def __getattr__(self, name: str) -> Any:
        if name not in ("values", "keys", "plain"):
            raise AttributeError(name)
        positions = parse_yaml(self._text, self._where)[1]
        self.values, self.keys, self.plain = positions.values, positions.keys, positions.plain
        return getattr(self, name)


class ParseCache:
    """Successful parses of earlier runs, keyed by a digest of the file's text (used for large corpora).

    Parsing is a pure function of the text, so a hit cannot be stale: an edited file has a new digest. The
    file's reading checks (size, encoding, symlinks) still run every time, and so does all validation; only the
    YAML parsing is skipped. The cache is <kb>/.cache/hftkb-parse.pickle (git-ignored; it goes away with a
    temporary knowledge base), is versioned by a digest of this module's source and PyYAML's version, and keeps
    only the entries the latest run used. HFTKB_NO_CACHE=1 disables it.
    """

    def __init__(self, file: Path):
        self.file = file
        self._old: dict[bytes, Any] = {}  # text digest -> data (positions are recomputed only when needed)
        self._new: dict[bytes, Any] = {}
        self._changed = False
        try:
            with open(file, "rb") as handle:
                version, entries = pickle.load(handle)
            if version == _LOADER_VERSION:
                self._old = entries
        except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError, ImportError):
            pass  # no cache yet, or an unreadable one: parse everything

    @classmethod
    def for_kb(cls, kb_dir: Path) -> ParseCache | None:
        if os.environ.get("HFTKB_NO_CACHE"):
            return None
        return cls(Path(kb_dir) / ".cache" / "hftkb-parse.pickle")

    def get(self, key: bytes) -> Any:
        hit = self._old.get(key)
        if hit is not None:
            self._new[key] = hit
        return hit

    def put(self, key: bytes, value: Any) -> None:
        self._new[key] = value
        self._changed = True

    def save(self) -> None:
        if not self._changed and len(self._new) == len(self._old):
            return
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_name(f".{self.file.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as handle:
                pickle.dump((_LOADER_VERSION, self._new), handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.file)
        except OSError:
            pass  # a read-only home directory only costs speed


def parse_yaml(text: str, where: str = "<string>") -> tuple[Any, Positions]:
    """Like `load_yaml` for text already in memory; `where` names it in problems."""
    builder = _Builder(where)
    parser = _Parser(text)
    try:
        data = builder.build(parser.get_event)
    except _TooDeep as err:
        mark = err.event.start_mark
        raise LoadError(builder.problems + [Problem(where, mark.line + 1, "E114", f"lists and mappings nested more than {MAX_DEPTH} "
                                 "levels deep (records nest a few levels at most); the rest of the file was not read",
                                 mark.column + 1)]) from None  # the problems before it are kept
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else 0
        context = err.context
        if context and err.context_mark is not None and err.context_mark.line != getattr(mark, "line", None):
            context += f" (from line {err.context_mark.line + 1})"
        message = ": ".join(s for s in (context, err.problem) if s) or "malformed YAML"
        raise LoadError([Problem(where, line, "E105", f"malformed YAML: {message}", (mark.column + 1) if mark else 0)]) from None
    except yaml.YAMLError as err:
        raise LoadError([Problem(where, 0, "E105", f"malformed YAML: {err}")]) from None
    finally:
        parser.dispose()
    if builder.problems:
        raise LoadError(builder.problems, data, builder.positions)
    return data, builder.positions


_PLAIN_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}").fullmatch


class _NeedsFullParse(Exception):
    """The quick parser met something it does not handle (a problem, or YAML it cannot be sure about)."""


def _quick_parse(text: str) -> Any:
    """The data of a clean document, without positions; raises _NeedsFullParse on anything else.

    It accepts exactly the documents for which `_Builder` reports no problem (no anchor, alias, tag, duplicate
    or non-text key, impossible date, second document, parse error) and builds the same data; everything else
    is left to `parse_yaml`, which says what is wrong and where. Skipping the position bookkeeping roughly
    halves the Python side of parsing.
    """
    parser = _Parser(text)
    get_event = parser.get_event
    try:
        get_event()  # StreamStartEvent
        if type(get_event()) is not _DOC_START:
            raise _NeedsFullParse  # an empty document: reported by the full parse
        data = _quick_node(get_event(), get_event, 1)
        get_event()  # DocumentEndEvent
        if type(get_event()) is not _STREAM_END:
            raise _NeedsFullParse  # a second document
        return data
    except yaml.YAMLError:
        raise _NeedsFullParse from None
    finally:
        parser.dispose()


def _quick_node(event: Any, get_event: Any, depth: int) -> Any:
    kind = type(event)
    if kind is _ALIAS or event.anchor is not None or event.tag is not None:
        raise _NeedsFullParse
    if depth > MAX_DEPTH and kind is not _SCALAR:
        raise _NeedsFullParse  # too deep: the full parse reports it (E114)
    if kind is _SCALAR:
        value = event.value
        if not event.implicit[0]:
            return value
        if _PLAIN_DATE(value):  # YYYY-MM-DD, the commonest non-text scalar: what YAML 1.1 makes of it
            try:
                return dt.date(int(value[:4]), int(value[5:7]), int(value[8:]))
            except ValueError:  # an impossible date
                raise _NeedsFullParse from None
        if value.isdigit() and value.isascii() and (value[0] != "0" or value == "0") and len(value) < 100:
            return int(value)  # a YAML 1.1 decimal int (a leading 0 means octal: left to the resolver)
        tag = _resolve(value)
        if tag == _STR_TAG:
            return value
        try:
            return _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, yaml.ScalarNode(tag, value))
        except ValueError:  # an impossible date
            raise _NeedsFullParse from None
    if kind is _SEQ_START:
        items = []
        event = get_event()
        while type(event) is not _SEQ_END:
            items.append(_quick_node(event, get_event, depth + 1))
            event = get_event()
        return items
    mapping: dict[str, Any] = {}
    event = get_event()
    while type(event) is not _MAP_END:
        if type(event) is not _SCALAR or event.anchor is not None or event.tag is not None or event.value in mapping:
            raise _NeedsFullParse
        mapping[event.value] = _quick_node(get_event(), get_event, depth + 1)
        event = get_event()
    return mapping


# Event classes, looked up once: the builder dispatches on `type(event) is ...` (this loop is the hot path
# when loading thousands of records, see bench/bench_load.py).
_SCALAR, _ALIAS = yaml.ScalarEvent, yaml.AliasEvent
_SEQ_START, _SEQ_END = yaml.SequenceStartEvent, yaml.SequenceEndEvent
_MAP_START, _MAP_END = yaml.MappingStartEvent, yaml.MappingEndEvent
_DOC_START, _STREAM_END = yaml.DocumentStartEvent, yaml.StreamEndEvent


class _TooDeep(Exception):
    """A list or mapping nested deeper than MAX_DEPTH starts at this event (reported as E114)."""

    def __init__(self, event: Any):
        super().__init__()
        self.event = event


class _Builder:
    """Turns a parser event stream into plain Python data, recording positions and problems on the way."""

    def __init__(self, where: str):
        self.where = where
        self.positions = Positions()
        self.problems: list[Problem] = []
        self._anchor_reported = False

    def _problem(self, event: Any, code: str, message: str) -> None:
        mark = event.start_mark
        self.problems.append(Problem(self.where, mark.line + 1, code, message, mark.column + 1))

    def build(self, get_event: Any) -> Any:
        get_event()  # StreamStartEvent
        event = get_event()
        if isinstance(event, yaml.StreamEndEvent):
            self.problems.append(Problem(self.where, 0, "E104", "no YAML content (only comments or blank lines)"))
            return None
        data = self._node(get_event(), get_event, (), 1)  # after DocumentStartEvent
        get_event()  # DocumentEndEvent
        event = get_event()
        if isinstance(event, yaml.DocumentStartEvent):
            self._problem(event, "E112", "a second YAML document ('---'): one record per file")
        return data

    def _node(self, event: Any, get_event: Any, loc: Loc, depth: int) -> Any:
        mark = event.start_mark
        self.positions.values[loc] = (mark.line + 1, mark.column + 1)
        kind = type(event)
        if depth > MAX_DEPTH and kind in (_SEQ_START, _MAP_START):
            # Stop reading here: parsing the rest of a deeply nested flow collection takes libyaml time that grows
            # with the square of the depth (minutes for a 1 MB file), and what follows would only add noise.
            raise _TooDeep(event)
        if kind is _ALIAS:
            self._report_anchor(event, f"alias '*{event.anchor}'")
            return None
        if event.anchor is not None:
            self._report_anchor(event, f"anchor '&{event.anchor}'")
        if event.tag is not None:
            self._problem(event, "E108", f"YAML tag '{event.tag}' is not allowed; write plain values")
        if kind is _SCALAR:
            return self._scalar(event, loc)
        if kind is _SEQ_START:
            items: list[Any] = []
            event = get_event()
            while type(event) is not _SEQ_END:
                items.append(self._node(event, get_event, loc + (len(items),), depth + 1))
                event = get_event()
            return items
        # MappingStartEvent
        mapping: dict[str, Any] = {}
        keys = self.positions.keys
        event = get_event()
        while type(event) is not _MAP_END:
            if type(event) is not _SCALAR:
                self._problem(event, "E105", "malformed YAML: a mapping key must be plain text")
                self._node(event, get_event, loc + ("?",), depth + 1)  # consume the complex key and its value
                self._node(get_event(), get_event, loc + ("?",), depth + 1)
                event = get_event()
                continue
            key = event.value
            if event.anchor is not None:
                self._report_anchor(event, f"anchor '&{event.anchor}'")
            if event.tag is not None:
                self._problem(event, "E108", f"YAML tag '{event.tag}' is not allowed on a key")
            child = loc + (key,)
            if key in mapping:
                self._problem(event, "E106", f"duplicate key '{key}' (first on line {keys[child][0]})")
                self._node(get_event(), get_event, loc + (key, "duplicate"), depth + 1)  # read and drop the second value
                event = get_event()
                continue
            key_mark = event.start_mark
            keys[child] = (key_mark.line + 1, key_mark.column + 1)
            mapping[key] = self._node(get_event(), get_event, child, depth + 1)
            event = get_event()
        return mapping

    def _report_anchor(self, event: Any, what: str) -> None:
        # One report per file is enough: a billion-laughs file would otherwise print hundreds of lines.
        if not self._anchor_reported:
            self._anchor_reported = True
            self._problem(event, "E107", f"{what}: anchors and aliases are not allowed; write each value out")

    def _scalar(self, event: Any, loc: Loc) -> Any:
        value = event.value
        if not event.implicit[0] or event.tag is not None:  # quoted or block scalar, or tagged: text
            return value
        tag = _resolve(value)
        if tag == _STR_TAG:
            return value
        try:
            result = _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, yaml.ScalarNode(tag, value))
        except ValueError as err:  # e.g. 2024-02-30: "day is out of range for month"
            self._problem(event, "E111", f"impossible date {value!r}: {err}")
            return value
        self.positions.plain[loc] = value
        return result


_RESOLVER_FIRST_CHARS = frozenset(k for k in yaml.resolver.Resolver.yaml_implicit_resolvers if k)


def _resolve(value: str) -> str:
    """The YAML 1.1 tag of a plain scalar: PyYAML's implicit resolvers, which are indexed by first character;
    a scalar whose first character starts none of them is text (the common case, resolved without regexes)."""
    if value and value[0] not in _RESOLVER_FIRST_CHARS:
        return _STR_TAG
    return _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))


# ---------------------------------------------------------------------------------------------------------
# Writing


class _RecordDumper(yaml.SafeDumper):
    """Block style, lists indented under their key, long text as literal blocks when it has line breaks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> Any:
    # Prose (summaries, mechanisms) reads best as a block: literal when it has line breaks, folded when long.
    if "\n" in value.strip("\n"):
        style = "|"
    elif len(value) > 90 and " " in value and value == value.strip():
        style = ">"
    else:
        style = None
    return dumper.represent_scalar(_STR_TAG, value, style=style)


_RecordDumper.add_representer(str, _represent_str)


def record_data(model: Any) -> dict[str, Any]:
    """The record as plain data in canonical form: model field order, default values left out."""
    return model.model_dump(mode="python", exclude_defaults=True)


def dump_data(data: Any) -> str:
    return yaml.dump(data, Dumper=_RecordDumper, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False)


def dump_record(model: Any) -> str:
    """Canonical YAML text of a record (what `hftkb fmt` writes). Papers start with the schema comment."""
    from hftkb.models import Paper

    body = dump_data(record_data(model))
    return f"{SCHEMA_HEADER}\n{body}" if isinstance(model, Paper) else body


def write_record(path: Path, model: Any) -> bool:
    """Write `model` canonically to `path` (atomically); return True when the file changed."""
    text = dump_record(model)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return True
