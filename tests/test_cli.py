from __future__ import annotations

import pytest
import sqlalchemy as sa

from biobank.services.admin.demo import DEMO_PASSWORD
from tests.conftest import PASSWORD


@pytest.fixture
def runner(app):
    return (
        app.test_cli_runner(mix_stderr=False) if _supports_mix_stderr() else app.test_cli_runner()
    )


def _supports_mix_stderr() -> bool:
    import inspect

    from click.testing import CliRunner

    return "mix_stderr" in inspect.signature(CliRunner.__init__).parameters


def test_init_db_is_safe_to_run_again(runner):
    result = runner.invoke(args=["biobank", "init-db"])
    assert result.exit_code == 0, result.output
    assert "0 tube types added" in result.output


def test_create_site_and_user(runner):
    result = runner.invoke(
        args=[
            "biobank",
            "create-site",
            "JHU-01",
            "--name",
            "Johns Hopkins",
            "--kind",
            "collection",
            "--timezone",
            "America/New_York",
        ]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        args=[
            "biobank",
            "create-user",
            "jo.smith",
            "--role",
            "collector",
            "--site",
            "JHU-01",
            "--password",
            PASSWORD,
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Created collector jo.smith at JHU-01" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["create-site", "X1", "--name", "x", "--kind", "collection", "--timezone", "Mars/Base"],
            "not an IANA time zone",
        ),
        (
            [
                "create-user",
                "jo",
                "--role",
                "collector",
                "--site",
                "NOPE-01",
                "--password",
                PASSWORD,
            ],
            "no site with code",
        ),
        (
            [
                "create-user",
                "jo.smith",
                "--role",
                "collector",
                "--site",
                "UCSD-01",
                "--password",
                "short",
            ],
            "at least 12",
        ),
        (
            ["create-site", "X1", "--name", "x", "--kind", "moon", "--timezone", "UTC"],
            "Invalid value for '--kind'",
        ),
    ],
)
def test_bad_arguments_exit_non_zero_with_one_clear_line(runner, clinic, args, message):
    result = runner.invoke(args=["biobank", *args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_create_user_asks_for_the_password_when_left_out(runner, clinic):
    result = runner.invoke(
        args=["biobank", "create-user", "jo.smith", "--role", "collector", "--site", "UCSD-01"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output


def test_seed_demo_runs_once_and_refuses_production(app, runner):
    first = runner.invoke(args=["biobank", "seed-demo"])
    assert first.exit_code == 0, first.output
    assert DEMO_PASSWORD in first.output
    again = runner.invoke(args=["biobank", "seed-demo"])
    assert "already loaded" in again.output
    app.config["BIOBANK_ENV"] = "production"
    refused = runner.invoke(args=["biobank", "seed-demo"])
    assert refused.exit_code != 0
    assert "refused in production" in refused.output


def test_audit_verify_reports_an_intact_chain(runner):
    result = runner.invoke(args=["biobank", "audit-verify"])
    assert result.exit_code == 0
    assert "intact" in result.output


def test_deactivate_user_from_the_command_line(runner, collector):
    result = runner.invoke(args=["biobank", "deactivate-user", "collector"])
    assert result.exit_code == 0, result.output
    assert "sessions and tokens are ended" in result.output
    missing = runner.invoke(args=["biobank", "deactivate-user", "nobody"])
    assert missing.exit_code != 0 and "no user" in missing.output


def test_prune_failed_attempts_deletes_only_the_old_ones(runner, app):
    from datetime import timedelta

    from biobank.db import utcnow
    from biobank.extensions import db
    from biobank.models import AuthFailure, AuthFailureReason, ThrottlePurpose
    from biobank.unit_of_work import unit_of_work

    with unit_of_work():
        for days in (400, 40, 1):
            db.session.add(
                AuthFailure(
                    at=utcnow() - timedelta(days=days),
                    purpose=ThrottlePurpose.LOGIN,
                    reason=AuthFailureReason.UNKNOWN_USER,
                    username=f"guess.{days}",
                )
            )
    result = runner.invoke(args=["biobank", "prune-failed-attempts", "--older-than-days", "365"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Deleted 1 failed attempts recorded before ")
    db.session.rollback()
    assert db.session.scalars(sa.select(AuthFailure.username).order_by(AuthFailure.at)).all() == [
        "guess.40",
        "guess.1",
    ]
    refused = runner.invoke(args=["biobank", "prune-failed-attempts", "--older-than-days", "0"])
    assert refused.exit_code != 0


def test_audit_verify_fails_and_names_the_event_edited_behind_the_apps_back(runner, technician):
    from biobank.extensions import db
    from biobank.models import EventType
    from biobank.services.core.custody import record_event
    from biobank.unit_of_work import unit_of_work
    from tests.factories import raw_sample, tamper_with_the_log

    sample = raw_sample(technician.site)
    with unit_of_work():
        events = [
            record_event(EventType.FLAGGED, actor=technician, sample=sample) for _ in range(3)
        ]
    target = events[1].id
    tamper_with_the_log(f"UPDATE events SET reason = 'it was never here' WHERE id = {target}")
    db.session.remove()
    result = runner.invoke(args=["biobank", "audit-verify"])
    assert result.exit_code != 0
    assert f"broken at event {target}" in result.output


def test_seed_demo_adds_stored_tubes_for_scale_tests(runner):
    result = runner.invoke(args=["biobank", "seed-demo", "--samples", "120"])
    assert result.exit_code == 0, result.output
    assert "Added 120 stored tubes" in result.output
    assert runner.invoke(args=["biobank", "audit-verify"]).exit_code == 0


def test_seed_demo_puts_its_events_into_the_custody_log(runner):
    from biobank.services.core.custody_log import log_status

    result = runner.invoke(args=["biobank", "seed-demo", "--samples", "40"])
    assert result.exit_code == 0, result.output
    status = log_status()
    assert status.pending == 0 and status.tree_size > 0
    assert f"The custody log holds {status.tree_size:,} events." in result.output
    checkpoint = runner.invoke(args=["biobank", "checkpoint"])
    assert checkpoint.exit_code == 0
    assert checkpoint.output.splitlines()[1] == str(status.tree_size)


def test_recount_figures_puts_right_what_was_changed_by_hand(
    runner, technician, collector, received_tubes, freezer, coordinator
):
    import sqlalchemy as sa

    from biobank.extensions import db
    from biobank.models import BoxFill, DayTally
    from biobank.services.reporting import reports
    from biobank.services.storage import freezer_tree, placing
    from biobank.unit_of_work import unit_of_work

    tubes = received_tubes(collector)
    with unit_of_work():
        placing.store_many(technician, freezer, [t.barcode for t in tubes])
    reports.collection_to_freezer(coordinator)  # keeps the closed days of the window
    db.session.rollback()
    kept_days = db.session.scalar(sa.select(sa.func.count()).select_from(DayTally))
    assert kept_days >= 88  # the closed days of 90 (the first partial, the last not settled)
    db.session.execute(sa.update(BoxFill).values(used=BoxFill.used + 5))
    db.session.commit()
    assert freezer_tree.occupancy(freezer).used == len(tubes) + 5

    result = runner.invoke(args=["biobank", "recount-figures"])
    assert result.exit_code == 0, result.output
    assert "Box fills: 1 did not match their positions and were recounted." in result.output
    assert f"Kept day figures: {kept_days} dropped" in result.output
    db.session.rollback()
    assert freezer_tree.occupancy(freezer).used == len(tubes)
    again = runner.invoke(args=["biobank", "recount-figures"])
    assert "Box fills: 0 did not match" in again.output
