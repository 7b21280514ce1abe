"""Every file in tests/bad_specs/ is rejected with exit 2, its expected field path, message
and line, and nothing is written. The first line of each says what to expect:
`# expect: LINE: FIELD.PATH: MESSAGE`."""
import re
from pathlib import Path

import pytest

from engine.cli import main

from .conftest import ROOT, engine_cmd

BAD = ROOT / "tests" / "bad_specs"
CASES = sorted(p for p in BAD.glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+): (\S+): (.+)$")


def expectation(path: Path):
    first = path.read_bytes().split(b"\n", 1)[0].decode("utf-8", "replace")
    m = EXPECT.match(first)
    assert m, f"{path.name}: first line must be '# expect: LINE: PATH: MESSAGE'"
    return int(m.group(1)), m.group(2), m.group(3)


def test_corpus_is_large_enough():
    assert len(CASES) >= 20


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_bad_spec(path, capsys, tmp_path, monkeypatch):
    line, field, message = expectation(path)
    monkeypatch.chdir(tmp_path)          # anything written would land here
    code = main(["validate", str(path)])
    err = capsys.readouterr().err.strip().splitlines()[0]
    assert code == 2, err
    m = re.match(r"^(.+?):(\d+): (\S+): (.+)$", err)
    assert m, f"not file:line: path: message: {err!r}"
    assert m.group(3) == field, err
    assert int(m.group(2)) == line, err
    assert message in m.group(4), err
    assert list(tmp_path.iterdir()) == []


def test_exit_code_and_message_from_the_command_line(tmp_path):
    p = engine_cmd("validate", str(BAD / "negative_stochasticity.yaml"), cwd=ROOT)
    assert p.returncode == 2
    assert re.search(r"negative_stochasticity\.yaml:6: sampler\.stochasticity: .*greater than or equal to 0",
                     p.stderr), p.stderr
