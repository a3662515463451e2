"""Every third-party package that ``jaxnas/`` imports is declared in pyproject.toml.

A package the core imports must be a core dependency. A package from an optional extra may only
be imported inside ``try: ... except ImportError`` whose handler names the extra to install
(``jaxnas[extra]``), so a user without it gets one clear line instead of a traceback.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path
from typing import Mapping

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jaxnas"
# modules whose distribution is not installed in a plain test environment, so
# importlib.metadata cannot name it: module -> distributions that provide it
UNINSTALLED_PROVIDERS = {"tensorflow": {"tensorflow", "tensorflow-cpu"}, "torch": {"torch"}}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    return _normalized(re.match(r"[A-Za-z0-9._-]+", requirement.strip()).group(0))


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_requirement_name(r) for r in project["dependencies"]}
    extras = {extra: {_requirement_name(r) for r in reqs}
              for extra, reqs in project.get("optional-dependencies", {}).items()}
    return core, extras


@functools.cache
def _installed_providers() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()  # scans every distribution: once


def _providers(module: str) -> set[str]:
    installed = _installed_providers().get(module, [])
    return {_normalized(d) for d in installed} or UNINSTALLED_PROVIDERS.get(module, {module})


def _guarded_by(tree: ast.AST, source: str) -> dict[int, str]:
    """id(import node) -> source text of the ImportError handler around it."""
    guarded = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        handlers = [h for h in node.handlers
                    if h.type is not None and any(isinstance(n, ast.Name) and n.id in
                                                  ("ImportError", "ModuleNotFoundError")
                                                  for n in ast.walk(h.type))]
        if not handlers:
            continue
        text = " ".join(ast.get_source_segment(source, h) or "" for h in handlers)
        for statement in node.body:
            for inner in ast.walk(statement):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    guarded[id(inner)] = text
    return guarded


def _third_party_imports(path: Path):
    """(module, line, handler text or None) for each third-party import of one file."""
    source = path.read_text()
    tree = ast.parse(source, filename=str(path))
    guarded = _guarded_by(tree, source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        for module in modules:
            top = module.split(".")[0]
            if top != "jaxnas" and top not in sys.stdlib_module_names:
                yield top, node.lineno, guarded.get(id(node))


def test_every_imported_package_is_declared():
    core, extras = _declared()
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(ROOT)
        for module, line, handler in _third_party_imports(path):
            providers = _providers(module)
            if providers & core:
                continue
            in_extras = [e for e, dists in extras.items() if providers & dists]
            if not in_extras:
                problems.append(f"{where}:{line}: {module} is in no dependency list of "
                                f"pyproject.toml")
            elif handler is None or not any(f"jaxnas[{e}]" in handler for e in in_extras):
                problems.append(f"{where}:{line}: {module} comes from the extra "
                                f"{in_extras} but is not imported behind an ImportError "
                                f"handler that names it (pip install 'jaxnas[...]')")
    assert not problems, "\n".join(problems)


def test_the_scan_sees_the_imports_it_must_judge(tmp_path):
    # the checker itself: an undeclared import and an unguarded extra are both reported
    core, extras = _declared()
    assert "jax" in core and "filelock" in core and "torch" in extras["bench"]
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nimport numpy as np\nimport tensorflow\n"
                      "try:\n    import torch\nexcept ImportError:\n"
                      "    raise SystemExit(\"pip install 'jaxnas[bench]'\")\n")
    found = {module: handler for module, _, handler in _third_party_imports(sample)}
    assert set(found) == {"numpy", "tensorflow", "torch"}
    assert found["tensorflow"] is None and "jaxnas[bench]" in found["torch"]
