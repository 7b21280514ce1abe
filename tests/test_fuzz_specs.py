"""Fuzzing the spec loader and validator (hypothesis, fixed seed, bounded examples, no deadline).

The property: any byte string, and any mutation of a valid spec, either loads and expands at every
scale it names, or fails with the engine's spec error, `file:line: field.path: message` (the CLI
prints it and exits 2): never another exception (a traceback). `make fuzz` runs many more examples
(FUZZ_EXAMPLES)."""
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from engine.errors import SpecError, SpecErrors
from engine.spec.resolve import expand, load_spec

from .conftest import ROOT

pytestmark = pytest.mark.slow(15)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))
LOCATED = re.compile(r"^[^\n]+:\d+: [^\n]*: .+", re.S)
VALID = [ROOT / "specs" / n for n in ("gaussian_vp_gap.yaml", "digits_ddpo_lambda.yaml", "csdm_finance.yaml")]
BASES = {p.name: p.read_text() for p in (ROOT / "specs" / "base").glob("*.yaml")}


def check(folder: Path, text: bytes | str) -> None:
    """Write `text` as a spec beside copies of the bases, load and expand it at every scale."""
    (folder / "base").mkdir(exist_ok=True)
    for name, base in BASES.items():
        (folder / "base" / name).write_text(base)
    path = folder / "fuzzed.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    try:
        doc = load_spec(path)
        for scale in doc.header.scales:
            expand(doc, scale, max_runs=2000)
    except SpecErrors as e:
        assert all(LOCATED.match(err.format()) for err in e.errors), str(e)
    except SpecError as e:
        assert LOCATED.match(str(e)), str(e)


@seed(20261130)
@FUZZ
@given(st.binary(max_size=400))
def test_any_bytes_give_a_spec_or_a_located_error(tmp_path_factory, data):
    check(tmp_path_factory.mktemp("bytes"), data)


def _mutate(text: str, ops) -> str:
    lines = text.splitlines()
    for kind, i, payload in ops:
        if not lines:
            break
        i %= len(lines)
        if kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "value":                    # replace what follows a key's colon
            head = lines[i].split(":", 1)[0]
            lines[i] = f"{head}: {payload}"
        elif kind == "insert":
            lines.insert(i, payload)
        elif kind == "char":                     # one character replaced
            line = lines[i]
            if line:
                j = len(payload) % len(line)
                lines[i] = line[:j] + (payload[:1] or "\x00") + line[j + 1:]
        elif kind == "indent":
            lines[i] = " " + lines[i]
    return "\n".join(lines) + "\n"


VALUES = st.one_of(st.sampled_from(["", "[]", "{}", "null", "true", "-1", "0", "1e308", "-1e308", ".nan", ".inf",
                                    "[1, 2, 3]", "{kind: vp}", "'x'", "&a [1]", "*a", "!!python/object:os.system",
                                    "[[1], [2]]", "9" * 40, "2147483648", "~", "'\u202e'", "{kind: ve, sigma_min: 0}"]),
                   st.text(max_size=30))
OPS = st.lists(st.tuples(st.sampled_from(["delete", "duplicate", "value", "insert", "char", "indent"]),
                         st.integers(0, 10_000), VALUES), min_size=1, max_size=4)


@seed(20261130)
@FUZZ
@given(st.sampled_from(range(len(VALID))), OPS)
def test_mutated_valid_specs_give_a_spec_or_a_located_error(tmp_path_factory, which, ops):
    text = _mutate(VALID[which].read_text().replace(f"name: {VALID[which].stem}", "name: fuzzed"), ops)
    check(tmp_path_factory.mktemp("mutated"), text)


def test_the_valid_specs_pass_unmutated(tmp_path):
    for p in VALID:
        check(tmp_path, p.read_text().replace(f"name: {p.stem}", "name: fuzzed"))
        assert load_spec(tmp_path / "fuzzed.yaml").name == "fuzzed"
