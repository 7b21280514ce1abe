"""Safe YAML loading that remembers where every value came from.

Returns plain Python data plus a map ``path tuple -> line`` so validation
errors can point at ``file:line``. Limits: file size, node count (alias bombs),
nesting depth. Duplicate keys are rejected, not merged.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import SpecError

MAX_BYTES = 1 << 20          # 1 MiB
MAX_NODES = 100_000          # values after alias expansion
MAX_DEPTH = 64

# YAML 1.1 (PyYAML) reads "1e-4" as a string; YAML 1.2 and users read a number.
_FLOAT_RE = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)[eE][-+]?\d+$")      # no nested repeats: linear time

Path_ = tuple  # a path into the document: keys and list indices

# Only the core schema's tags: no !!python/..., no application tags (!include), no !!binary/!!set.
# Timestamps are read as the text they were written as.
_PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in
                        ("str", "int", "float", "bool", "null", "seq", "map", "timestamp", "merge"))


_MERGE = "tag:yaml.org,2002:merge"


def _short_tag(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


class Located:
    """Data loaded from one file, with line numbers for each path."""

    def __init__(self, file: str, data: Any, lines: dict[tuple, int]):
        self.file = file
        self.data = data
        self.lines = lines


def _fail(file: str, line: int | None, path: tuple, message: str) -> SpecError:
    return SpecError(file, line, ".".join(str(p) for p in path), message)


def load_yaml(file: str | Path, display: str | None = None) -> Located:
    """Load one YAML file safely; raise SpecError with a location on any problem."""
    name = display or str(file)
    p = Path(file)
    try:
        with open(p, "rb") as f:            # never read more than the limit (a FIFO, a huge file)
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise _fail(name, None, (), "file not found") from None
    except IsADirectoryError:
        raise _fail(name, None, (), "is a directory, not a spec file") from None
    except OSError as e:
        raise _fail(name, None, (), f"cannot read file: {e.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise _fail(name, None, (), f"file is larger than {MAX_BYTES} bytes (1 MiB), the limit for a spec")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        before = raw[: e.start]
        line = before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n") + 1    # YAML's breaks: \n, \r, \r\n
        raise _fail(name, line, (), f"file is not valid UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                                    f"save it as UTF-8") from None
    return load_yaml_text(text, name)


# libyaml's parser when PyYAML has it (same events and marks, several times faster: planning
# a thousand runs reads every spec at each Snakemake start)
_LOADER = getattr(yaml, "CSafeLoader", None) if getattr(yaml, "__with_libyaml__", False) else None


def load_yaml_text(text: str, name: str) -> Located:
    if _LOADER is not None:
        try:
            return _load(_LOADER(text), name)
        except (yaml.YAMLError, RecursionError, SpecError):
            pass                     # any error: parse again in Python, whose messages name the character
    try:
        return _load(yaml.SafeLoader(text), name)
    except yaml.reader.ReaderError as e:     # a character YAML forbids (raised while reading, without a mark)
        before = text[:e.position]
        line = before.count("\n") + before.count("\r") - before.count("\r\n") + 1
        raise _fail(name, line, (), f"character U+{e.character:04X} is not allowed in YAML (a control character); "
                                    "remove it") from None


def _load(loader, name: str) -> Located:
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as e:
            raise _syntax_error(name, e) from None
        except yaml.YAMLError as e:
            raise _fail(name, None, (), f"YAML error: {e}") from None
        except RecursionError:
            raise _fail(name, None, (), f"nesting deeper than {MAX_DEPTH} levels") from None
        if node is None:
            raise _fail(name, 1, (), "file is empty; a spec must be a mapping of fields")
        lines: dict[tuple, int] = {}
        counter = [0]
        data = _build(loader, node, (), lines, name, counter, 0)
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise _fail(name, node.start_mark.line + 1, (), f"a spec must be a mapping of fields, not {_typename(data)}")
    return Located(name, data, lines)


def _syntax_error(name: str, e: yaml.MarkedYAMLError) -> SpecError:
    """A parser error as file:line: <document>: message, naming where the broken construct began."""
    mark = e.problem_mark or e.context_mark
    line = mark.line + 1 if mark else None
    problem = e.problem or str(e)
    if "\t" in problem or "'\\t'" in problem:
        return _fail(name, line, (), "tab character: YAML indentation must use spaces, not tabs")
    if e.context == "expected a single document in the stream":
        return _fail(name, line, (), "YAML syntax error: a spec file holds one YAML document; found a second "
                                     "one (a '---' line)")
    msg = f"YAML syntax error: {problem}"
    if e.context and e.context_mark is not None and e.context_mark.line + 1 != line:
        msg += f" ({e.context} that starts on line {e.context_mark.line + 1})"
    return _fail(name, line, (), msg)


def _typename(v: Any) -> str:
    return {list: "a list", str: "a string", int: "an integer", float: "a number", bool: "a boolean",
            type(None): "null"}.get(type(v), type(v).__name__)


def _build_mapping(loader, node, path, lines, name, counter, depth) -> dict:
    """A mapping; `<<: *base` merges give defaults that the mapping's own keys override."""
    merged: dict = {}
    own: dict = {}
    own_lines: dict = {}
    for knode, vnode in node.value:
        if not isinstance(knode, yaml.ScalarNode):
            raise _fail(name, knode.start_mark.line + 1, path, "mapping keys must be plain strings")
        if knode.tag not in _PLAIN_TAGS:
            raise _fail(name, knode.start_mark.line + 1, path,
                        f"YAML tag '{_short_tag(knode.tag)}' is not allowed on a key")
        if knode.tag == _MERGE:
            sources = vnode.value if isinstance(vnode, yaml.SequenceNode) else [vnode]
            for src in sources:
                if not isinstance(src, yaml.MappingNode):
                    raise _fail(name, src.start_mark.line + 1, path, "a merge key (<<) needs a mapping or a list of them")
                for k, v in _build(loader, src, path, lines, name, counter, depth + 1).items():
                    merged.setdefault(k, v)
            continue
        key = knode.value               # as written: `yes:` is the key 'yes', not True
        if key in own:
            raise _fail(name, knode.start_mark.line + 1, path + (key,),
                        f"duplicate key '{key}' (first given on line {own_lines[key]})")
        own_lines[key] = knode.start_mark.line + 1
        own[key] = vnode
    out = dict(merged)
    for key, vnode in own.items():
        lines[path + (key,)] = own_lines[key]
        out[key] = _build(loader, vnode, path + (key,), lines, name, counter, depth + 1)
    return out


def _build(loader, node, path, lines, name, counter, depth):
    counter[0] += 1
    if counter[0] > MAX_NODES:
        top = path[:1]
        raise _fail(name, lines.get(top, node.start_mark.line + 1), top,
                    f"document expands to more than {MAX_NODES} values through aliases (*name) "
                    f"(an alias bomb?); specs are limited to {MAX_NODES} values")
    if depth > MAX_DEPTH:
        raise _fail(name, node.start_mark.line + 1, path[:1],
                    f"nesting deeper than {MAX_DEPTH} levels (or an alias that contains itself)")
    lines.setdefault(path, node.start_mark.line + 1)
    if node.tag not in _PLAIN_TAGS:
        raise _fail(name, node.start_mark.line + 1, path,
                    f"YAML tag '{_short_tag(node.tag)}' is not allowed: a spec is plain data "
                    f"(mappings, lists, strings, numbers, booleans, null)")
    if isinstance(node, yaml.MappingNode):
        return _build_mapping(loader, node, path, lines, name, counter, depth)
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, v, path + (i,), lines, name, counter, depth + 1) for i, v in enumerate(node.value)]
    try:
        value = loader.construct_object(node)
    except yaml.YAMLError as e:
        raise _fail(name, node.start_mark.line + 1, path, f"bad value: {e}") from None
    if isinstance(value, str) and not node.style and _FLOAT_RE.match(value):     # plain: None (Python), "" (libyaml)
        value = float(value)
    if not isinstance(value, (str, int, float, bool, type(None))):
        # timestamps, binary: not part of the spec language
        value = str(node.value)
    return value
