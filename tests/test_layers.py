"""The seam between the core and the science, checked on the source: the core names no
science module, science never imports stages or the planner, declarations import no torch,
and there is no import circle among engine modules."""
import subprocess
import sys

from engine import identity, registry

from .conftest import ROOT

CORE = ("engine.spec", "engine.plan", "engine.layout", "engine.store", "engine.registry", "engine.identity",
        "engine.status", "engine.gc", "engine.diff", "engine.dvcsync", "engine.cli", "engine.report",
        "engine.launch", "engine.errors")
SCIENCE = ("engine.models", "engine.samplers", "engine.algorithms", "engine.rewards", "engine.data")


def _modules():
    out = {}
    for p in sorted(identity.ENGINE_DIR.rglob("*.py")):
        rel = p.relative_to(identity.ENGINE_DIR.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        out[name] = p
    return out


def _engine_imports(name, path):
    return {i for i in identity._imports(path, name) if identity._module_file(i) is not None
            and i.startswith("engine.")}


def test_core_imports_no_science_and_science_no_stages():
    mods = _modules()
    for name, path in mods.items():
        deps = _engine_imports(name, path)
        if name.startswith(CORE):
            bad = sorted(d for d in deps if d.startswith(SCIENCE + ("engine.stages",)))
            assert not bad, f"core module {name} imports science: {bad}"
        if name.startswith(SCIENCE) and not name.endswith("_kind"):
            bad = sorted(d for d in deps if d.startswith(("engine.stages", "engine.plan")))
            assert not bad, f"science module {name} imports up the layers: {bad}"


def test_no_import_circles():
    mods = _modules()
    graph = {n: {d for d in _engine_imports(n, p) if d in mods} for n, p in mods.items()}
    state: dict[str, int] = {}

    def visit(n, stack):
        state[n] = 1
        for d in graph[n]:
            if d.startswith(n + ".") or n.startswith(d + "."):
                continue                              # a package and its own modules
            if state.get(d) == 1:
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d, stack + [d])
        state[n] = 2

    for n in graph:
        if n not in state:
            visit(n, [n])


def test_declarations_and_planning_import_no_torch():
    code = ("import sys; from engine.plan import build_plan; build_plan('smoke'); "
            "import engine.cli; assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_every_kind_declares_its_room_and_implementation():
    for k in registry.kinds():
        assert k.declared_in.endswith("_kind"), k
        assert k.code is None or identity._module_file(k.code) is not None, k
        if k.room in registry.GRAPH_ROOMS:
            assert k.graph is not None, f"{k.room} {k.name} owns a run's graph but declares none"
    for s in registry.stages().values():
        assert identity._module_file(s.code) is not None, s
