"""How the services are laid out: by workflow, on a core that needs none of them."""

from __future__ import annotations

import ast
from pathlib import Path

import biobank.services

SERVICES = Path(biobank.services.__file__).parent
WORKFLOWS = (
    "collecting",
    "shipping",
    "storage",
    "inventory",
    "reporting",
    "distribution",
    "admin",
)


def _imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    found |= {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    return found


def test_every_service_lives_in_a_workflow_package_or_the_core():
    assert sorted(path.name for path in SERVICES.glob("*.py")) == ["__init__.py"]
    packages = sorted(path.name for path in SERVICES.iterdir() if (path / "__init__.py").exists())
    assert packages == sorted(("core", *WORKFLOWS))


def test_the_core_imports_no_workflow():
    reaching_out = {
        path.name: sorted(
            module
            for module in _imported(path)
            if module.split(".")[:3] in [["biobank", "services", w] for w in WORKFLOWS]
        )
        for path in sorted((SERVICES / "core").glob("*.py"))
    }
    assert {name: found for name, found in reaching_out.items() if found} == {}


def test_no_service_reads_the_request():
    request_state = {"request", "session", "g"}
    readers = {}
    for path in sorted(SERVICES.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("flask"):
                names = {alias.name for alias in node.names} & request_state
                if names:
                    readers[str(path.relative_to(SERVICES))] = sorted(names)
    assert readers == {}
