"""labels/ is a leaf package: the web app depends on it, never the other way round."""

import ast
from pathlib import Path

import labels

FORBIDDEN_ROOTS = {"flask", "sqlalchemy", "biobank", "werkzeug", "flask_sqlalchemy"}


def test_labels_imports_nothing_from_the_app_or_web_stack():
    package = Path(labels.__file__).parent
    for source in package.glob("*.py"):
        tree = ast.parse(source.read_text(), filename=str(source))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert not roots & FORBIDDEN_ROOTS, f"{source.name} imports {roots & FORBIDDEN_ROOTS}"
