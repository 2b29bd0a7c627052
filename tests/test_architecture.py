"""The layering of the package (docs/ARCHITECTURE.md): no import circle among dosecalc's own
modules, and function-local imports of package modules only where the architecture says why.

Truth: the import statements of the source files themselves, read with ``ast`` (no module
is imported), and the layer rules written in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Modules allowed to import package modules inside functions, and why (ARCHITECTURE.md):
LOCAL_IMPORTS_ALLOWED = {
    "dosecalc.commands": "dosecalc --help imports every command module (cold start, measured)",
    "dosecalc.dose_grid": "DoseGrid.sample / DoseGrid.write: numba and pydicom only when used",
    "dosecalc.protocols": "being restructured by the protocol work (issue 9)",
    "dosecalc.kernels": "kernel modules (thread helpers)",
    # a one-shot `dosecalc dvh` imports only what a physical DVH run uses (issue 13)
    "dosecalc.analysis": "radiobiology only for a converted (EQD2/BED) grid",
    "dosecalc.case": "radiobiology only in Case.eqd2 / Case.bed",
    "dosecalc.io.load": "net.dicomweb (optional [net] extra) only for a DICOMweb URL",
}


def _modules(root: Path = ROOT) -> dict[str, Path]:
    """Module name -> source file, for the package in the checkout at ``root`` (also used
    by ``benchmarks/layering.py`` on other checkouts)."""
    mods = {}
    for base, pkg in ((root / "dosecalc", "dosecalc"), (root / "kernels", "dosecalc.kernels")):
        for path in base.rglob("*.py"):
            rel = path.relative_to(base).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            mods[".".join([pkg, *parts])] = path
    return mods


def _imports(mods):
    """(module -> set of package modules it imports, list of function-local imports
    (module, line, target), module -> set imported at module level)."""
    graph, local, top = {}, [], {}
    for name, path in mods.items():
        is_pkg = path.name == "__init__.py"
        graph[name] = set()
        top[name] = set()

        def targets(node):
            if isinstance(node, ast.Import):
                return [a.name for a in node.names]
            base = name if is_pkg else name.rpartition(".")[0]
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            mod = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            return [mod] + [f"{mod}.{a.name}" for a in node.names]

        def visit(node, in_function):
            for child in ast.iter_child_nodes(node):
                if (isinstance(child, ast.If) and isinstance(child.test, ast.Name)
                        and child.test.id == "TYPE_CHECKING"):
                    continue  # not an import at run time
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    found = {t for t in targets(child) if t in mods and not name.startswith(t + ".")}
                    graph[name] |= found
                    if in_function and found:
                        local.append((name, child.lineno, sorted(found)[0]))
                    elif not in_function:
                        top[name] |= found
                visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

        visit(ast.parse(path.read_text()), False)
    return graph, local, top


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            strong(v)
    return out


def test_cycle_finder_finds_a_planted_circle():
    """The checker itself: a -> b -> c -> a is found, a tree is not."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


# Function-local edges known to close a circle, each with its reason (keep this short).
KNOWN_LOCAL_EDGES = {
    # the old import path of check_eligibility, kept as a thin wrapper after it moved
    ("dosecalc.protocols.liver_function", "dosecalc.protocols.eligibility"),
}


def test_no_import_circle():
    """No circle among dosecalc's modules: none through module-level imports, and none
    through imports inside functions either (except the named wrappers above)."""
    graph, local, top = _imports(_modules())
    assert len(graph) > 60  # the whole package was read
    assert _cycles(top) == []
    allowed = {m: {t for t in ts if (m, t) not in KNOWN_LOCAL_EDGES} for m, ts in graph.items()}
    assert _cycles(allowed) == []


def test_function_local_imports_only_where_allowed():
    _, local, _ = _imports(_modules())
    bad = [(m, line, t) for m, line, t in local
           if not any(m == p or m.startswith(p + ".") for p in LOCAL_IMPORTS_ALLOWED)]
    assert bad == []


DATA_LAYER = {"dosecalc.model", "dosecalc.dose_grid", "dosecalc.structures", "dosecalc.plan"}


def test_data_layer_imports_nothing_above_it():
    """The data layer (model.py and the modules it re-exports) imports only the
    vocabulary, errors, the display helpers (which import nothing of the package) and
    itself at module level."""
    _, _, top = _imports(_modules())
    assert top["dosecalc.display"] == set()
    below = {"dosecalc.errors", "dosecalc.provenance", "dosecalc.summation", "dosecalc.display"}
    for name in DATA_LAYER:
        assert top[name] <= below | DATA_LAYER, name
