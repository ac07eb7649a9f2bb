from __future__ import annotations

import pytest
import sqlalchemy as sa

from biobank.errors import Forbidden, NotFound
from biobank.extensions import db
from biobank.models import Role, Sample
from biobank.services.core import policy
from biobank.services.core.policy import PERMISSIONS, Action
from tests.factories import raw_sample


def test_every_action_names_who_may_do_it():
    assert set(PERMISSIONS) == set(Action)
    assert all(PERMISSIONS[action] for action in Action)


@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    [
        (Role.COLLECTOR, Action.COLLECT, True),
        (Role.TECHNICIAN, Action.COLLECT, False),
        (Role.TECHNICIAN, Action.RECEIVE, True),
        (Role.COLLECTOR, Action.RECEIVE, False),
        (Role.COORDINATOR, Action.PRINT_LABEL_BATCHES, True),
        (Role.COLLECTOR, Action.MANAGE_SITES, False),
        (Role.ADMIN, Action.MANAGE_SITES, True),
        (Role.COORDINATOR, Action.READ_REPORTS, True),
        (Role.TECHNICIAN, Action.READ_REPORTS, False),
    ],
)
def test_role_table(make_user, clinic, role, action, allowed):
    user = make_user(f"u.{role}", role, clinic)
    assert policy.can(user, action) is allowed


def test_forbidden_says_which_role_and_action(collector):
    with pytest.raises(Forbidden, match=r"collector.*receive shipments"):
        policy.require(collector, Action.RECEIVE)


def test_a_clinic_sees_only_its_own_samples(collector, other_collector, coordinator):
    own = raw_sample(collector.site)
    theirs = raw_sample(other_collector.site)
    visible = db.session.scalars(policy.scope_samples(sa.select(Sample), collector)).all()
    assert [s.id for s in visible] == [own.id]
    with pytest.raises(NotFound):
        policy.ensure_visible(collector, theirs, "sample")
    assert policy.ensure_visible(coordinator, theirs, "sample") is theirs


def test_a_biobank_sees_tubes_in_its_custody(technician, collector):
    tube = raw_sample(collector.site)
    with pytest.raises(NotFound):
        policy.ensure_visible(technician, tube, "sample")
    tube.custody_site_id = technician.site_id
    assert policy.ensure_visible(technician, tube, "sample") is tube


def test_acting_at_another_site_is_forbidden(collector, other_clinic):
    with pytest.raises(Forbidden, match="only at your own site"):
        policy.require_own_site(collector, other_clinic, Action.COLLECT)
