"""YAML in and out: a strict, position-aware loader and the canonical writer used by `hftkb fmt`.

Reading. PyYAML's own loaders are too forgiving for a knowledge base (DESIGN.md section 7): they keep the last
of two equal keys in silence, expand aliases (a billion-laughs file eats the memory), honour tags, and turn an
unquoted `2310.03690` into the float 2310.0369. So this module builds the data itself from the parser's event
stream (libyaml's C parser when available, for speed) and

* rejects anchors, aliases, tags, duplicate keys, several documents, empty files, files over 1 MiB, non-UTF-8
  bytes, directories and symlinks that leave the knowledge base, each with its line;
* resolves plain scalars with YAML 1.1's usual rules (so a date is a `datetime.date`, `42` an int), but remembers
  the source text of every plain scalar that did not become a string, so that a schema error on it can say
  "quote it" and show exactly what was written;
* records where every value and every mapping key starts (`Positions`), so that pydantic's error locations can
  be mapped back to a line.

Writing. `dump_record` writes a record in one canonical form (field order of the model, defaults left out,
`# yaml-language-server` header for papers): `hftkb fmt` writes it and `hftkb fmt --check` compares with it.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
from pathlib import Path
from typing import Any

import yaml

from hftkb.problems import Problem

MAX_BYTES = 1024 * 1024  # 1 MiB: the biggest real record is a few kB; anything larger is a mistake or an attack.

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
    with open(path, "rb") as handle:
        raw = handle.read(MAX_BYTES + 1)
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


def load_yaml(path: Path, kb_root: Path | None = None, cache: ParseCache | None = None) -> tuple[Any, Positions]:
    """Load one YAML file strictly: (data, positions), or LoadError listing every problem found."""
    text = read_text(path, kb_root)
    if cache is None:
        return parse_yaml(text, str(path))
    key = hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
    data = cache.get(key)
    if data is not None:
        return data, _LazyPositions(text, str(path))
    data, positions = parse_yaml(text, str(path))  # raises on problems: only clean parses are remembered
    cache.put(key, data)
    return data, positions


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


# Event classes, looked up once: the builder dispatches on `type(event) is ...` (this loop is the hot path
# when loading thousands of records, see bench/bench_load.py).
_SCALAR, _ALIAS = yaml.ScalarEvent, yaml.AliasEvent
_SEQ_START, _SEQ_END = yaml.SequenceStartEvent, yaml.SequenceEndEvent
_MAP_START, _MAP_END = yaml.MappingStartEvent, yaml.MappingEndEvent


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
        data = self._node(get_event(), get_event, ())  # after DocumentStartEvent
        get_event()  # DocumentEndEvent
        event = get_event()
        if isinstance(event, yaml.DocumentStartEvent):
            self._problem(event, "E112", "a second YAML document ('---'): one record per file")
        return data

    def _node(self, event: Any, get_event: Any, loc: Loc) -> Any:
        mark = event.start_mark
        self.positions.values[loc] = (mark.line + 1, mark.column + 1)
        kind = type(event)
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
                items.append(self._node(event, get_event, loc + (len(items),)))
                event = get_event()
            return items
        # MappingStartEvent
        mapping: dict[str, Any] = {}
        keys = self.positions.keys
        event = get_event()
        while type(event) is not _MAP_END:
            if type(event) is not _SCALAR:
                self._problem(event, "E105", "malformed YAML: a mapping key must be plain text")
                self._node(event, get_event, loc + ("?",))  # consume the complex key and its value
                self._node(get_event(), get_event, loc + ("?",))
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
                self._node(get_event(), get_event, loc + (key, "duplicate"))  # read and drop the second value
                event = get_event()
                continue
            key_mark = event.start_mark
            keys[child] = (key_mark.line + 1, key_mark.column + 1)
            mapping[key] = self._node(get_event(), get_event, child)
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
