"""The layers of jaxnas import only downwards (CONTRIBUTING.md)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "jaxnas"

# base modules any layer may import; they import nothing from jaxnas themselves
BASE = {"errors", "compile_cache", "cpu_tuning", "files"}
# layer -> the jaxnas layers it may import (besides itself, BASE and jaxnas top level)
ALLOWED = {
    "spaces": set(),
    "nn": {"spaces"},
    "data": set(),
    "train": {"spaces", "nn", "data"},
    "benchmarks": {"spaces", "nn"},
    "graph": {"spaces"},
    "generators": {"spaces"},
    "search": {"spaces", "nn", "data", "train", "benchmarks", "graph", "generators"},
    "cli": {"spaces", "nn", "data", "train", "benchmarks", "graph", "generators", "search"},
}


def _imported_layers(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name.split(".")[1] for name in names if name.startswith("jaxnas.")}


def test_every_layer_imports_only_lower_layers():
    violations = []
    for layer, allowed in ALLOWED.items():
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            bad = _imported_layers(path) - allowed - {layer} - BASE
            if bad:
                violations.append(f"{path.relative_to(PACKAGE)} imports {sorted(bad)}")
    assert not violations, "layering violations:\n" + "\n".join(violations)


def test_every_package_directory_is_a_known_layer():
    layers = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert layers <= set(ALLOWED), f"unknown layers {sorted(layers - set(ALLOWED))}"


def test_base_modules_import_nothing_from_jaxnas():
    for name in BASE:
        assert not _imported_layers(PACKAGE / f"{name}.py"), name
