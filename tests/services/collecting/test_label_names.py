"""Issue 14: names that print on labels (freezers, shelves, racks, boxes; a site's name on the
manifest) go through the personal-data screen on create and rename, like notes do."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from biobank.errors import ValidationFailed
from biobank.extensions import db
from biobank.models import Container, Site
from biobank.services.core import sites
from biobank.services.storage import freezer_tree
from biobank.unit_of_work import unit_of_work

BAD = [
    ("J Smith SSN 123-45-6789", "a social security number"),
    ("Box of jane at example dot com", "an e-mail address"),
    ("call 555.123.4567", "a phone number"),
    ("Jones DOB 1980-03-14", "a date of birth"),
]


def _refused(call, kind: str, field: str = "name") -> str:
    with pytest.raises(ValidationFailed) as refused, unit_of_work():
        call()
    message = refused.value.errors[field][0]
    assert kind in message and "remove" in message and "label" in message
    assert not any(digit in message for digit in "0123456789")
    return message


def _count() -> int:
    return db.session.scalar(sa.select(sa.func.count(Container.id)))


@pytest.mark.parametrize(("name", "kind"), BAD)
def test_a_freezer_named_with_personal_data_is_refused(technician, name, kind):
    _refused(lambda: freezer_tree.create_freezer(technician, name=name, temperature_c=-80), kind)
    assert _count() == 0


@pytest.mark.parametrize("container_kind", ["shelf", "rack", "box"])
@pytest.mark.parametrize(("name", "kind"), BAD)
def test_a_container_named_with_personal_data_is_refused(
    technician, freezer, container_kind, name, kind
):
    before = _count()
    size = {"rows": 9, "cols": 9} if container_kind == "box" else {}
    _refused(
        lambda: freezer_tree.create_container(
            technician, parent_id=freezer.id, kind=container_kind, name=name, **size
        ),
        kind,
    )
    assert _count() == before


@pytest.mark.parametrize(("name", "kind"), BAD)
def test_renaming_to_personal_data_is_refused(technician, freezer, boxes, name, kind):
    for container in (freezer, boxes[0]):
        old = container.name
        _refused(lambda c=container: freezer_tree.rename_container(technician, c, name), kind)
        assert db.session.get(Container, container.id).name == old


def test_ordinary_names_still_pass(technician, freezer, boxes):
    with unit_of_work():
        freezer_tree.rename_container(technician, boxes[0], "Serum 2024-03 (-80 C)")
        freezer_tree.create_container(
            technician, parent_id=freezer.id, kind="rack", name="Rack 12 at bench 3"
        )
    assert boxes[0].name == "Serum 2024-03 (-80 C)"


def test_a_site_named_with_personal_data_is_refused(admin):
    message = _refused(
        lambda: sites.create_site(
            code="JS-01",
            name="J Smith SSN 123-45-6789",
            kind="collection",
            timezone="America/Chicago",
            actor=admin,
        ),
        "a social security number",
    )
    assert "Names print on labels" in message
    assert db.session.scalar(sa.select(Site.id).where(Site.code == "JS-01")) is None
