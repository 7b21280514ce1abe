"""The README's commands, from an explicit allow-list: each must appear verbatim in README.md and
run (Snakemake as a dry run, -n, at the smoke scale, in a throwaway copy of the project). A README
edit that breaks one (a target swallowed by `--config`, a renamed subcommand) fails here."""
import shlex

import pytest

from .conftest import ROOT, copy_project, engine_cmd, snakemake

README = (ROOT / "README.md").read_text()
SNAKEMAKE = [
    "snakemake --cores 1 paper/smoke/tables/gaussian_vp_gap_table.md --config scale=smoke",
    "snakemake --cores 1 paper/smoke/tables/gaussian_ve_gap_table.md --config scale=smoke",
    "snakemake --config scale=smoke",
]
ENGINE = ["engine validate", "engine plan", "engine schema", "engine fingerprint"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("readme"))


@pytest.mark.parametrize("command", SNAKEMAKE)
def test_readme_snakemake_command_plans(project, command):
    assert command in README
    args = shlex.split(command)[1:]
    args = [a for i, a in enumerate(args) if not (a == "--cores" or (i and args[i - 1] == "--cores"))]
    p = snakemake("-n", *args, cwd=project, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    target = next((a for a in args if a.startswith("paper/")), None)
    if target:
        assert target in p.stdout + p.stderr


@pytest.mark.parametrize("command", ENGINE)
def test_readme_engine_command_runs(project, command):
    assert command in README
    p = engine_cmd(*shlex.split(command)[1:], cwd=project)
    assert p.returncode == 0, p.stderr[-2000:]
