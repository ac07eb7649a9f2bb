"""The unit of work: one commit for everything inside, or nothing; and the layering that keeps
``biobank.db`` free of the app."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

import biobank.db
from biobank.extensions import db
from biobank.models import Site, SiteKind
from biobank.services.core import sites
from biobank.unit_of_work import end_read_only_transaction, get_record, unit_of_work


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


@contextmanager
def _transaction_ends(engine: sa.Engine) -> Iterator[list[str]]:
    ends: list[str] = []

    def committed(_connection):
        ends.append("commit")

    def rolled_back(_connection):
        ends.append("rollback")

    sa.event.listen(engine, "commit", committed)
    sa.event.listen(engine, "rollback", rolled_back)
    try:
        yield ends
    finally:
        sa.event.remove(engine, "commit", committed)
        sa.event.remove(engine, "rollback", rolled_back)


def _a_request(app, work, error: BaseException | None = None) -> None:
    """``work`` in a request's session, ended as the app ends a request: this teardown, then
    Flask-SQLAlchemy's close."""
    with app.test_request_context():
        work()
        end_read_only_transaction(error)
        db.session.remove()


def test_the_app_ends_a_request_with_this_teardown_before_the_session_is_closed(app):
    teardowns = app.teardown_appcontext_funcs
    closing = next(f for f in teardowns if f.__name__ == "_teardown_session")
    # Flask runs them last-registered first.
    assert teardowns.index(end_read_only_transaction) > teardowns.index(closing)


def test_a_request_that_only_read_ends_with_a_commit_and_one_that_failed_with_a_rollback(app):
    def read():
        db.session.execute(sa.select(Site.id)).all()

    with _transaction_ends(db.engine) as ends:
        _a_request(app, read)
    assert ends == ["commit"]
    with _transaction_ends(db.engine) as ends:
        _a_request(app, read, RuntimeError("the request failed"))
    assert ends == ["rollback"]


def test_a_transaction_that_wrote_is_rolled_back_at_the_end_of_a_request_never_committed(app):
    def flushed():
        _new_site("FLUSHED-1")
        db.session.flush()  # a write outside a unit of work: a defect, never kept

    def pending():  # added, not flushed: a commit would flush it
        db.session.add(
            Site(code="PENDING-1", name="Pending", kind=SiteKind.COLLECTION, timezone="UTC")
        )

    def changed():  # loaded and changed, not flushed
        db.session.scalars(sa.select(Site).where(Site.code == "KEPT-1")).one().name = "Changed"

    with unit_of_work():
        _new_site("KEPT-1")
    for work in (flushed, pending, changed):
        with _transaction_ends(db.engine) as ends:
            _a_request(app, work)
        # The unflushed add never reached the database, so no transaction began; what proves
        # it was not kept is the site missing below (a commit would have flushed it).
        assert ends == ([] if work is pending else ["rollback"])
    names = {code: name for code, name in db.session.execute(sa.select(Site.code, Site.name))}
    assert "FLUSHED-1" not in names and "PENDING-1" not in names
    assert names["KEPT-1"] == "KEPT-1 site"


def test_statements_stay_prepared_from_one_read_only_request_to_the_next(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("psycopg's prepared statements: PostgreSQL only")

    def read():
        db.session.execute(sa.select(Site.id).where(Site.code == "UCSD-01")).all()

    def prepared_after_requests(end) -> int:
        db.session.remove()
        db.engine.dispose()  # one connection, which every request below uses in turn
        for _ in range(8):  # psycopg prepares a statement at its fifth run on a connection
            with app.test_request_context():
                read()
                end()
                db.session.remove()
        with app.test_request_context():
            count = db.session.execute(
                sa.text("SELECT count(*) FROM pg_prepared_statements")
            ).scalar_one()
            db.session.remove()
        return count

    assert prepared_after_requests(lambda: end_read_only_transaction(None)) >= 1
    # Ended by the close alone, each request's ROLLBACK made psycopg forget them all.
    assert prepared_after_requests(lambda: None) == 0
