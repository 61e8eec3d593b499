"""Dependencies: every package the code imports is declared (product code in the dependencies or the
embedded extra, tests in the dev extra), and constraints.txt locks exactly the versions pyproject.toml pins."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRODUCT = ("api", "assets", "bench", "cli", "core", "pipelines", "suppliers", "warehouse", "dbt_like_sql")
LOCAL = set(PRODUCT) | {"tests", "scripts", "warehouse_fixtures"}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[=<>!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _pins(requirements: list[str]) -> dict[str, str]:
    return {_name(r): r.split("==", 1)[1].split(";")[0].strip() for r in requirements if "==" in r}


PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
MAIN = _pins(PROJECT["dependencies"])
EXTRAS = {extra: _pins(requirements) for extra, requirements in PROJECT["optional-dependencies"].items()}


def _imports(folders: tuple[str, ...]) -> set[str]:
    found = set()
    for folder in folders:
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    found |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.add(node.module.split(".")[0])
    return {name for name in found if name not in LOCAL and name not in sys.stdlib_module_names}


def _undeclared(modules: set[str], declared: set[str]) -> list[str]:
    distributions = importlib.metadata.packages_distributions()
    return sorted(module for module in modules
                  if not {_name(d) for d in distributions.get(module, [module])} & declared)


def test_product_code_imports_only_declared_packages():
    assert _undeclared(_imports(PRODUCT), set(MAIN) | set(EXTRAS["embedded"])) == []


def test_tests_import_only_declared_packages():
    declared = set(MAIN) | set(EXTRAS["embedded"]) | set(EXTRAS["dev"])
    assert _undeclared(_imports(("tests", "scripts")), declared) == []


def test_the_lock_pins_what_pyproject_pins():
    lines = [line for line in (REPO / "constraints.txt").read_text().splitlines() if line and line[0] != "#"]
    locked = {_name(line): line.split("==", 1)[1] for line in lines}
    assert len(locked) == len(lines), "one line per package"
    for pins in (MAIN, *EXTRAS.values()):
        assert {name: locked.get(name) for name in pins} == pins
