"""The layering figures of the closing note of issue 11, for this checkout or another one.

Usage::

    python benchmarks/layering.py [--root DIR] [--top 15]

Prints, for the package in the checkout at ``DIR`` (default: this one), read with the
same ``ast`` graph as ``tests/test_architecture.py`` (nothing is imported):

* the import circles: strongly connected components of more than one module, through
  module-level imports only, and through every import (function-local ones included);
* the number of function-local imports of the package's own modules (one per import
  statement inside a function), by module;
* the largest modules in lines (``wc -l`` of ``dosecalc/*.py dosecalc/*/*.py kernels/*.py``).

Run it on an older commit with ``git archive REV | tar -x -C DIR`` first.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "tests"))
from test_architecture import _cycles, _imports, _modules  # noqa: E402


def figures(root: Path, top: int = 15) -> dict:
    graph, local, top_graph = _imports(_modules(root))
    files = sorted([*root.glob("dosecalc/*.py"), *root.glob("dosecalc/*/*.py"), *root.glob("kernels/*.py")])
    sizes = sorted(((len(f.read_text().splitlines()), str(f.relative_to(root))) for f in files), reverse=True)
    return {
        "modules": len(graph),
        "circles_module_level": _cycles(top_graph),
        "circles_all_imports": _cycles(graph),
        "local_imports": len(local),
        "local_imports_by_module": Counter(m for m, _, _ in local).most_common(),
        "largest": sizes[:top],
        "over_500": [(n, f) for n, f in sizes if n > 500],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=HERE)
    ap.add_argument("--top", type=int, default=15)
    a = ap.parse_args()
    f = figures(a.root.resolve(), a.top)
    print(f"{a.root}: {f['modules']} modules")
    print(f"import circles, module-level imports: {len(f['circles_module_level'])} {f['circles_module_level']}")
    print(f"import circles, all imports: {len(f['circles_all_imports'])} {f['circles_all_imports']}")
    print(f"function-local imports of package modules: {f['local_imports']}")
    for m, n in f["local_imports_by_module"]:
        print(f"  {n:3d}  {m}")
    print(f"largest modules (lines), {len(f['over_500'])} over 500:")
    for n, name in f["largest"]:
        print(f"  {n:5d}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
