"""The unit of work: one commit for everything inside, or nothing; and the layering that keeps
``biobank.db`` free of the app."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import sqlalchemy as sa

import biobank.db
from biobank.extensions import db
from biobank.models import Site, SiteKind
from biobank.services.core import sites
from biobank.unit_of_work import get_record, unit_of_work


def _imports(module) -> list[str]:
    tree = ast.parse(Path(module.__file__).read_text())
    names = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    names += [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ]
    return sorted(name for name in names if name.split(".")[0] == "biobank")


def test_db_imports_nothing_of_the_app_so_the_extensions_can_import_it():
    assert _imports(biobank.db) == []


def _new_site(code: str) -> Site:
    return sites.create_site(
        code=code, name=f"{code} site", kind=SiteKind.COLLECTION, timezone="America/Chicago"
    )


def test_a_unit_that_fails_writes_nothing(app):
    with pytest.raises(RuntimeError), unit_of_work():
        _new_site("GONE-01")
        raise RuntimeError("the printer jammed")
    assert db.session.scalar(sa.select(Site).where(Site.code == "GONE-01")) is None
    with unit_of_work():
        _new_site("KEPT-01")
    assert db.session.scalar(sa.select(Site.name).where(Site.code == "KEPT-01")) == "KEPT-01 site"


@pytest.mark.parametrize("record_id", [0, -1, 2**31])
def test_an_id_out_of_range_is_no_record(app, record_id):
    assert get_record(Site, record_id) is None
