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
_FLOAT_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")

Path_ = tuple  # a path into the document: keys and list indices


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
        raw = p.read_bytes()
    except FileNotFoundError:
        raise _fail(name, None, (), "file not found") from None
    except OSError as e:
        raise _fail(name, None, (), f"cannot read file: {e.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise _fail(name, None, (), f"file is {len(raw)} bytes; specs are limited to {MAX_BYTES} bytes (1 MiB)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise _fail(name, line, (), f"file is not valid UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start})") from None
    return load_yaml_text(text, name)


def load_yaml_text(text: str, name: str) -> Located:
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            line = mark.line + 1 if mark else None
            msg = e.problem or str(e)
            if "\t" in msg or "'\\t'" in msg:
                msg = "tab character: YAML indentation must use spaces, not tabs"
            else:
                msg = f"YAML syntax error: {msg}"
            raise _fail(name, line, (), msg) from None
        except yaml.YAMLError as e:
            raise _fail(name, None, (), f"YAML error: {e}") from None
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


def _typename(v: Any) -> str:
    return {list: "a list", str: "a string", int: "an integer", float: "a number", bool: "a boolean",
            type(None): "null"}.get(type(v), type(v).__name__)


def _build(loader, node, path, lines, name, counter, depth):
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise _fail(name, node.start_mark.line + 1, path,
                    f"document expands to more than {MAX_NODES} values (alias bomb?)")
    if depth > MAX_DEPTH:
        raise _fail(name, node.start_mark.line + 1, path, f"nesting deeper than {MAX_DEPTH} levels")
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict = {}
        loader.flatten_mapping(node)  # merge keys (<<)
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                raise _fail(name, knode.start_mark.line + 1, path, "mapping keys must be plain strings")
            key = loader.construct_object(knode)
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                raise _fail(name, knode.start_mark.line + 1, path + (key,),
                            f"duplicate key '{key}' (first given on line {lines[path + (key,)]})")
            lines[path + (key,)] = knode.start_mark.line + 1
            out[key] = _build(loader, vnode, path + (key,), lines, name, counter, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, v, path + (i,), lines, name, counter, depth + 1) for i, v in enumerate(node.value)]
    try:
        value = loader.construct_object(node)
    except yaml.YAMLError as e:
        raise _fail(name, node.start_mark.line + 1, path, f"bad value: {e}") from None
    if isinstance(value, str) and node.style is None and _FLOAT_RE.match(value):
        value = float(value)
    if not isinstance(value, (str, int, float, bool, type(None))):
        # timestamps, binary: not part of the spec language
        value = str(node.value)
    return value
