"""The package's shape (STYLE.md, "This project's shape"): data flows one way, each floor imports only
from the floors above it, no private module is imported from outside its package, and every package's
`__all__` is exactly what it makes public."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import types
from pathlib import Path

import pytest

import exporter

ROOT = Path(exporter.__file__).parent
# Top to bottom. `services` sits above `config`: the config validates a target's cloud_service against
# the specs and reads custom_services with the spec reader. `log` is on top: every floor writes its
# repeated lines through its `repeated` (it imports nothing of the package). Programs (cli, demo, the fake
# cloud) are last.
FLOORS = {
    "model": 0,
    "schema": 0,
    "log": 0,
    "services": 1,
    "config": 2,
    "cloud": 3,
    "tracking": 4,
    "intake": 1,  # SMN checking: imports nothing of the package; config checks its files with it
    "exposition": 5,
    "app": 6,
    "cli": 7,
    "demo": 7,
    "simulator": 7,
    "__main__": 7,
    "__init__": 0,
}


def modules() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def part(path: Path) -> str:
    return path.relative_to(ROOT).parts[0].removesuffix(".py")


def imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("exporter"):
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith("exporter")]
    return found


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_from_a_floor_below_it(path: Path) -> None:
    floor = FLOORS[part(path)]
    for name in imports(path):
        target = name.split(".")[1] if "." in name else "__init__"
        assert FLOORS[target] <= floor, f"{path.relative_to(ROOT)} imports {name}, a floor below it"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_module_is_imported_from_outside_its_package(path: Path) -> None:
    package = ".".join(("exporter", *path.relative_to(ROOT).parent.parts))
    for name in imports(path):
        parent, _, leaf = name.rpartition(".")
        if leaf.startswith("_") and not leaf.startswith("__"):
            assert parent == package, f"{path.relative_to(ROOT)} imports the private module {name}"


def packages() -> list[str]:
    found = ["exporter"]
    for info in pkgutil.walk_packages(exporter.__path__, "exporter."):
        if info.ispkg:
            found.append(info.name)
    return found


@pytest.mark.parametrize("name", packages())
def test_each_package_exports_exactly_its_public_names(name: str) -> None:
    package = importlib.import_module(name)

    def borrowed(value: object) -> bool:  # a class or function imported from another library
        return (inspect.isclass(value) or inspect.isroutine(value)) and not value.__module__.startswith("exporter")

    public = {
        key
        for key, value in vars(package).items()
        if not key.startswith("_") and not isinstance(value, types.ModuleType) and key != "annotations"
        and not borrowed(value)
    }  # fmt: skip
    dunders = {key for key in package.__all__ if key.startswith("__")}
    assert sorted(package.__all__) == sorted(public | dunders)
    assert list(package.__all__) == sorted(package.__all__, key=lambda n: (not n.isupper(), n))


def test_every_built_in_spec_is_named_after_its_file() -> None:
    from exporter.services import BUILTIN, BUILTIN_DIR

    assert sorted(BUILTIN) == sorted(path.stem for path in BUILTIN_DIR.glob("*.yaml"))
