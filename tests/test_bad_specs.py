"""Every bad spec is rejected with exit 2, its expected field path, message and line, and
nothing is written.

Cases: the files in tests/bad_specs/, whose first line says what to expect,
`# expect: [FILE:]LINE: FIELD.PATH: MESSAGE` (FILE, relative to tests/bad_specs/, when the
error is in a base the case extends), plus a few generated here because they cannot be
committed (over 1 MiB, /dev/zero, an environment variable). Each case is checked three ways:
`engine validate FILE`; in a scratch project whose specs/ holds the case, `engine validate`
(all specs, all scales) and `engine plan`; and, for a sample (slow), a Snakemake dry run.
"""
import os
import re
import shutil
from pathlib import Path

import pytest

from engine.cli import main

from .conftest import ROOT, copy_project, engine_cmd, snakemake

BAD = ROOT / "tests" / "bad_specs"
EXPECT = re.compile(r"^# expect: (?:(\S+\.yaml):)?(\d+): (\S+): (.+)$")
REPORTED = re.compile(r"^(.+?):(\d+): (\S+): (.+)$")


def _oversized(d: Path) -> None:
    text = "# expect: 1: <document>: file is larger than 1048576 bytes (1 MiB)\nname: oversized\n"
    (d / "oversized.yaml").write_text(text + ("# padding " + "x" * 69 + "\n") * 14_000)


def _dev_zero(d: Path) -> None:
    (d / "dev_zero.yaml").symlink_to("/dev/zero")       # endless: must not be read to the end


def _very_deep(d: Path) -> None:
    (d / "very_deep.yaml").write_text("x: " + "[" * 100_000 + "\n")


def _max_runs(d: Path) -> None:
    (d / "max_runs_env.yaml").write_text(
        "# expect: 4: sampler.steps: sweep expands to 6 runs, more than the maximum of 5\n"
        "name: max_runs_env\nextends: bases/ok.yaml\n"
        "sampler: {kind: gddim, steps: [10, 20, 30], stochasticity: 1.0}\nseeds: [0, 1]\n")


# name -> (writer, expectation when the file cannot carry it, environment)
GENERATED = {
    "oversized": (_oversized, None, {}),
    "dev_zero": (_dev_zero, (None, 1, "<document>", "file is larger than 1048576 bytes"), {}),
    "very_deep": (_very_deep, (None, 1, "<document>", "nesting deeper than 64 levels"), {}),
    "max_runs_env": (_max_runs, None, {"ENGINE_MAX_RUNS": "5"}),
}
COMMITTED = sorted(p.stem for p in BAD.glob("*.yaml"))
CASES = COMMITTED + sorted(GENERATED)
SNAKEMAKE_SAMPLE = ["yaml_syntax", "duplicate_key", "unknown_key_nested", "extends_cycle", "alias_bomb",
                    "python_tag", "output_name_traversal", "too_many_runs"]


def materialize(name: str, folder: Path) -> Path:
    """Put case `name` (and the bases it extends) into `folder`; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "bases").exists():
        shutil.copytree(BAD / "bases", folder / "bases")
    if name in GENERATED:
        GENERATED[name][0](folder)
    else:
        shutil.copy2(BAD / f"{name}.yaml", folder / f"{name}.yaml")
    return folder / f"{name}.yaml"


def expectation(name: str, path: Path):
    """(file or None, line, field path, message)."""
    if name in GENERATED and GENERATED[name][1]:
        return GENERATED[name][1]
    first = path.read_bytes()[:500].split(b"\n", 1)[0].decode("utf-8", "replace")
    m = EXPECT.match(first)
    assert m, f"{name}: first line must be '# expect: [FILE:]LINE: PATH: MESSAGE'"
    return m.group(1), int(m.group(2)), m.group(3), m.group(4)


def check_reported(name: str, stderr: str, expected) -> None:
    file, line, field, message = expected
    first = stderr.strip().splitlines()[0] if stderr.strip() else ""
    m = REPORTED.match(first)
    assert m, f"not file:line: path: message: {stderr!r}"
    assert m.group(1).endswith(file or f"{name}.yaml"), first
    assert int(m.group(2)) == line, first
    assert m.group(3) == field, first
    assert message in m.group(4), first


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def case_env(request, monkeypatch):
    """The case's name, with the environment it needs (and no stray ENGINE_MAX_RUNS)."""
    monkeypatch.delenv("ENGINE_MAX_RUNS", raising=False)
    for k, v in GENERATED.get(request.param, (None, None, {}))[2].items():
        monkeypatch.setenv(k, v)
    return request.param


def test_corpus_is_large_enough():
    assert len(COMMITTED) >= 40 and len(CASES) >= 40


@pytest.mark.parametrize("case_env", CASES, ids=CASES, indirect=True)
def test_validate_file(case_env, capsys, tmp_path, monkeypatch):
    """`engine validate FILE`: exit 2, file:line: field.path: message, nothing written."""
    name = case_env
    path = BAD / f"{name}.yaml" if name in COMMITTED else materialize(name, tmp_path / "cases")
    expected = expectation(name, path)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)                      # anything written would land here
    code = main(["validate", str(path)])
    assert code == 2
    check_reported(name, capsys.readouterr().err, expected)
    assert list(work.iterdir()) == []


@pytest.mark.parametrize("case_env", CASES, ids=CASES, indirect=True)
def test_validate_and_plan_in_a_project(case_env, capsys, tmp_path, monkeypatch):
    """In a project whose specs/ holds the case: `engine validate` (every spec, every scale)
    and `engine plan` both exit 2 with the same message, and nothing appears in the project."""
    name = case_env
    path = materialize(name, tmp_path / "specs")
    expected = expectation(name, path)
    before = tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    sd = path.is_file() and b"bases/sd_ok.yaml" in path.open("rb").read(1 << 16)    # (some cases are devices)
    scale = "paper" if sd else "smoke"                                                # SD specs: paper only
    for argv in (["validate"], ["plan", "--scale", scale]):
        code = main(argv)
        assert code == 2, argv
        check_reported(name, capsys.readouterr().err, expected)
    assert tree(tmp_path) == before
    assert not (tmp_path / "results").exists() and not (tmp_path / "paper").exists()


@pytest.mark.slow(2)
@pytest.mark.parametrize("name", SNAKEMAKE_SAMPLE)
def test_snakemake_refuses_before_running_anything(name, tmp_path):
    project = copy_project(tmp_path, specs=False)
    path = materialize(name, project / "specs")
    p = snakemake("-n", "--config", "scale=smoke", cwd=project, check=False)
    assert p.returncode == 2, p.stdout + p.stderr
    check_reported(name, p.stderr, expectation(name, path))
    assert not (project / "results").exists() and not (project / "paper").exists()


def test_exit_code_and_message_from_the_command_line(tmp_path):
    p = engine_cmd("validate", str(BAD / "negative_stochasticity.yaml"), cwd=ROOT)
    assert p.returncode == 2
    assert re.search(r"negative_stochasticity\.yaml:6: sampler\.stochasticity: .*greater than or equal to 0",
                     p.stderr), p.stderr
    assert "Traceback" not in p.stderr


def test_bad_environment_limit(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ENGINE_MAX_RUNS", "many")
    assert main(["validate", str(ROOT / "specs" / "gaussian_vp_gap.yaml")]) == 2
    assert "ENGINE_MAX_RUNS: must be a positive integer (got 'many')" in capsys.readouterr().err


def test_merge_keys_and_spellings_that_are_fine(tmp_path, capsys):
    """The loader's refusals are not over-eager: merge keys with overrides, `yes` in a value,
    dates and quoted numbers in free text are accepted."""
    path = tmp_path / "fine.yaml"
    shutil.copytree(BAD / "bases", tmp_path / "bases")
    path.write_text("name: fine\nextends: bases/ok.yaml\ntitle: '2024-01-01: yes'\npaper: 2024-01-01\n"
                    "algorithm: &a {kind: ddpo, epochs: 2, batch_size: 16}\n"
                    "outputs:\n  tables:\n    - &t {name: a_table, rows: [seed], metrics: [gap]}\n"
                    "    - {<<: *t, name: b_table}\n")
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err


def test_libyaml_and_python_parsers_read_every_spec_alike():
    """The loader parses with libyaml when PyYAML has it (engine/spec/yamlload.py); the data and
    every line number must be what the pure-Python parser gives (plain-scalar style differs: None
    there, "" in libyaml, and floats such as 1.0e200 depend on it)."""
    import yaml
    from engine.spec import yamlload
    if yamlload._LOADER is None:
        pytest.skip("PyYAML without libyaml")
    files = sorted(ROOT.glob("specs/**/*.yaml")) + sorted(ROOT.glob("tests/fixtures/**/*.yaml"))
    texts = [f.read_text() for f in files] + ["a: 1.0e200\nb: '1.0e200'\nc: [1e3, 2.5E-3, .5]\n"]
    for text in texts:
        c, py = yamlload._load(yamlload._LOADER(text), "x"), yamlload._load(yaml.SafeLoader(text), "x")
        assert (c.data, c.lines) == (py.data, py.lines)
    assert yamlload.load_yaml_text(texts[-1], "x").data["a"] == 1e200
