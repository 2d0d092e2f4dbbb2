"""Packaging: the emulator is a tool with its own extra, and the product never imports it.
`dynamics/` and `dynamics_emulator/` import neither Django nor each other."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
EMULATOR = "dynamics_emulator"


def _names(requirements: list[str]) -> set[str]:
    return {Requirement(r).name.lower().replace("_", "-") for r in requirements}


def _product_packages() -> list[str]:
    patterns = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    names = {p.rstrip("*") for p in patterns}
    return sorted(n for n in names if n != EMULATOR and (ROOT / n / "__init__.py").exists())


def _imports(package: str) -> dict[str, set[str]]:
    """Top-level module names each file of a package imports (at any depth in the file)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_the_emulator_has_its_own_extra_which_dev_includes() -> None:
    extras = PROJECT["optional-dependencies"]
    assert "odata-query" in _names(extras["emulator"])
    assert "odata-query" not in _names(PROJECT["dependencies"])
    dev = [Requirement(r) for r in extras["dev"]]
    assert any(r.name == PROJECT["name"] and "emulator" in r.extras for r in dev)


def test_every_third_party_import_of_the_emulator_is_declared() -> None:
    declared = _names(PROJECT["dependencies"]) | _names(
        PROJECT["optional-dependencies"]["emulator"])
    dists = packages_distributions()
    missing = set()
    for path, names in _imports(EMULATOR).items():
        for name in names - set(sys.stdlib_module_names) - {"__future__", EMULATOR}:
            provided_by = {d.lower().replace("_", "-") for d in dists.get(name, [name])}
            if not provided_by & declared:
                missing.add(f"{path}: {name}")
    assert not missing, sorted(missing)


@pytest.mark.parametrize("package", _product_packages())
def test_the_product_never_imports_the_emulator(package: str) -> None:
    offenders = {path: names & {EMULATOR, "odata_query"}
                 for path, names in _imports(package).items()
                 if names & {EMULATOR, "odata_query"}}
    assert not offenders


@pytest.mark.parametrize(("package", "other"), [("dynamics", EMULATOR),
                                                (EMULATOR, "dynamics")])
def test_client_and_emulator_import_neither_django_nor_each_other(package: str,
                                                                  other: str) -> None:
    offenders = {path: names & {"django", "rest_framework", other}
                 for path, names in _imports(package).items()
                 if names & {"django", "rest_framework", other}}
    assert not offenders


def test_the_image_compiles_the_catalogues_with_the_polib_of_dev() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    [polib] = [r for r in PROJECT["optional-dependencies"]["dev"]
               if Requirement(r).name == "polib"]
    assert f'"{polib}"' in dockerfile
    assert "scripts/compile_messages.py" in dockerfile
