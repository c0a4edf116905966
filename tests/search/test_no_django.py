"""sweeps.search is pure Python: numpy, scipy and scikit-optimize only, never Django."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import sweeps.search

PACKAGE = Path(sweeps.search.__file__).resolve().parent
ROOT = PACKAGE.parent.parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Call) and getattr(
            node.func, "id", getattr(node.func, "attr", "")
        ) in (
            "import_module",
            "__import__",
        ):
            names.update(
                a.value
                for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            )
    return names


def test_no_module_under_sweeps_search_imports_django() -> None:
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 10, "the scan must see the package's modules"
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in _imported_modules(path) if m.split(".")[0] == "django"
        )
        for path in sources
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_importing_every_search_module_loads_no_django() -> None:
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in PACKAGE.rglob("*.py")
    )
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "print(len(bad)); sys.exit(1 if bad else 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
