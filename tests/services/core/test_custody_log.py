"""The custody log as auditors see it (DESIGN §7a): signed checkpoints, one tube's inclusion
proofs checked against a checkpoint's root with nothing but the RFC 9162 rules, consistency
between two published sizes, and a checkpoint kept elsewhere catching a log cut short or
rewritten with every hash recomputed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from biobank.errors import NotFound, ValidationFailed
from biobank.extensions import db
from biobank.models import CustodyTreeHead, CustodyTreeNode, Event, EventType
from biobank.sequencer import sequence_pending
from biobank.services.core import custody_log
from biobank.services.core.custody import record_event
from biobank.services.core.custody_log import (
    consistency_proof,
    custody_proof,
    signed_checkpoint,
    verify_against_checkpoint,
)
from biobank.tlog.merkle import (
    HashReader,
    MemoryStore,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from biobank.tlog.note import Signer, open_checkpoint
from biobank.unit_of_work import unit_of_work
from tests.conftest import ON_POSTGRES
from tests.factories import raw_sample, tamper_with_the_log


def _flag(actor, sample, n):
    with unit_of_work():
        for index in range(n):
            record_event(EventType.FLAGGED, actor=actor, sample=sample, details={"n": index})


def test_the_checkpoint_is_a_signed_note_of_the_sequenced_tree(technician):
    sample = raw_sample(technician.site)
    _flag(technician, sample, 5)
    empty = signed_checkpoint()
    assert (empty.tree_size, empty.sequenced_at) == (0, None)
    sequence_pending()
    checkpoint = signed_checkpoint()
    verifier = custody_log.log_signer().verifier
    opened = open_checkpoint(checkpoint.note, verifier)
    leaves = db.session.scalars(sa.select(Event.leaf_hash).order_by(Event.log_index)).all()
    assert opened.size == checkpoint.tree_size == 5
    assert opened.root == HashReader(MemoryStore.of_leaf_hashes(leaves, stride=4)).root(5)
    assert opened.origin == "biobank.localhost/custody"
    assert checkpoint.note.startswith("biobank.localhost/custody\n5\n")
    assert "\n\u2014 biobank.localhost/custody " in checkpoint.note  # C2SP signature line


def test_one_tubes_proof_checks_against_the_checkpoint_alone(technician, received_tubes, collector):
    tubes = received_tubes(collector)
    other = raw_sample(technician.site)
    _flag(technician, other, 30)  # other tubes' events around this tube's
    _flag(technician, tubes[0], 2)
    sequence_pending()
    proof = custody_proof(technician, tubes[0].barcode)
    checkpoint = open_checkpoint(proof.checkpoint.note, custody_log.log_signer().verifier)
    ours = db.session.scalars(sa.select(Event.id).where(Event.sample_id == tubes[0].id)).all()
    assert sorted(e.id for e in proof.events) == sorted(ours)
    assert {"collected", "received", "flagged"} <= {e.type for e in proof.events}
    assert proof.pending == []
    for event in proof.events:
        verify_inclusion(
            event.leaf_index,
            checkpoint.size,
            leaf_hash(event.leaf),
            event.inclusion_proof,
            checkpoint.root,
        )
        assert f'"sample":"{tubes[0].barcode}"'.encode() in event.leaf
    assert [e.leaf_index for e in proof.events] == sorted(e.leaf_index for e in proof.events)


def test_events_not_yet_sequenced_are_listed_as_pending(technician, received_tubes, collector):
    tube = received_tubes(collector)[0]
    sequence_pending()
    _flag(technician, tube, 1)
    proof = custody_proof(technician, tube.barcode)
    assert [e.type for e in proof.pending] == ["flagged"]
    assert all(e.type != "flagged" for e in proof.events)
    assert proof.as_json()["pending"][0]["type"] == "flagged"


def test_a_proof_for_an_altered_event_fails(technician, received_tubes, collector):
    tube = received_tubes(collector)[0]
    sequence_pending()
    received = db.session.scalar(
        sa.select(Event).where(Event.sample_id == tube.id, Event.type == "received")
    )
    tamper_with_the_log(f"UPDATE events SET reason = 'never arrived' WHERE id = {received.id}")
    proof = custody_proof(technician, tube.barcode)
    root = open_checkpoint(proof.checkpoint.note, custody_log.log_signer().verifier).root
    altered = next(e for e in proof.events if e.id == received.id)
    with pytest.raises(ValueError, match="root"):
        verify_inclusion(
            altered.leaf_index,
            proof.checkpoint.tree_size,
            leaf_hash(altered.leaf),
            altered.inclusion_proof,
            root,
        )


def test_another_sites_tube_has_no_proof_for_a_clinic_user(
    other_collector, received_tubes, collector
):
    tube = received_tubes(collector)[0]
    with pytest.raises(NotFound):
        custody_proof(other_collector, tube.barcode)


def test_consistency_between_two_published_sizes_verifies(technician):
    sample = raw_sample(technician.site)
    _flag(technician, sample, 7)
    sequence_pending()
    old = signed_checkpoint()
    _flag(technician, sample, 30)
    sequence_pending()
    new = signed_checkpoint()
    proof = consistency_proof(old.tree_size, new.tree_size)
    verify_consistency(old.tree_size, new.tree_size, old.root_hash, new.root_hash, proof)
    with pytest.raises(ValueError):
        verify_consistency(old.tree_size, new.tree_size, new.root_hash, new.root_hash, proof)


@pytest.mark.parametrize(
    ("old", "new", "field", "words"),
    [(0, 3, "from", "from 1 to 5"), (2, 9, "to", "from 1 to 5"), (4, 3, "from", "larger")],
)
def test_a_consistency_proof_outside_the_log_names_the_size(technician, old, new, field, words):
    _flag(technician, raw_sample(technician.site), 5)
    sequence_pending()
    with pytest.raises(ValidationFailed) as refused:
        consistency_proof(old, new)
    assert words in refused.value.errors[field][0]


def test_a_checkpoint_kept_elsewhere_is_extended_by_the_growing_log(technician):
    sample = raw_sample(technician.site)
    _flag(technician, sample, 9)
    sequence_pending()
    kept = signed_checkpoint().note
    _flag(technician, sample, 25)
    sequence_pending()
    _flag(technician, sample, 2)  # committed, not yet sequenced: no harm
    report = verify_against_checkpoint(kept)
    assert report.first_break is None, report.first_break
    # 25 added since the checkpoint and 2 waiting, each checked against its leaf hash
    assert (report.checked, report.tree_size, report.pending) == (27, 34, 2)


def test_a_log_cut_short_fails_against_the_checkpoint(technician):
    sample = raw_sample(technician.site)
    _flag(technician, sample, 9)
    sequence_pending()
    kept = signed_checkpoint().note
    # The insider removes the tail and every trace of it from the tree, consistently.
    tamper_with_the_log(
        "DELETE FROM events WHERE log_index >= 6",
        "DELETE FROM custody_tree_heads WHERE tree_size > 6",
        "DELETE FROM custody_tree_nodes",
    )
    if db.session.scalar(sa.select(CustodyTreeHead).where(CustodyTreeHead.tree_size == 6)) is None:
        leaves = db.session.scalars(sa.select(Event.leaf_hash).order_by(Event.log_index)).all()
        db.session.add(
            CustodyTreeHead(
                tree_size=6,
                root_hash=HashReader(MemoryStore.of_leaf_hashes(leaves, stride=4)).root(6),
            )
        )
        db.session.commit()
    assert custody_log.verify_chain().first_break is None  # the database alone cannot tell
    report = verify_against_checkpoint(kept)
    assert "fewer than the 9" in report.first_break.problem


def test_history_rewritten_with_every_hash_recomputed_fails_against_the_checkpoint(technician):
    sample = raw_sample(technician.site)
    _flag(technician, sample, 20)
    sequence_pending()
    kept = signed_checkpoint().note
    _rewrite_event_and_tree(log_index=3, reason="nothing happened")
    assert custody_log.verify_chain().first_break is None  # consistent, hence undetectable
    report = verify_against_checkpoint(kept)
    assert "does not extend the checkpoint" in report.first_break.problem


def _rewrite_event_and_tree(*, log_index: int, reason: str) -> None:
    """What an insider with the database can do: edit an event, recompute its leaf hash and
    rebuild every stored node and tree head, so the database is consistent with itself."""
    from biobank.services.core.custody_log import _leaf_columns, _leaf_of_row

    event_id = db.session.scalar(sa.select(Event.id).where(Event.log_index == log_index))
    tamper_with_the_log(f"UPDATE events SET reason = '{reason}' WHERE id = {event_id}")
    row = db.session.execute(_leaf_columns().where(Event.id == event_id)).one()
    forged = leaf_hash(_leaf_of_row(row)).hex()
    literal = f"X'{forged}'" if not ON_POSTGRES else f"'\\x{forged}'::bytea"
    tamper_with_the_log(f"UPDATE events SET leaf_hash = {literal} WHERE id = {event_id}")
    leaves = db.session.scalars(sa.select(Event.leaf_hash).order_by(Event.log_index)).all()
    rebuilt = MemoryStore.of_leaf_hashes(leaves, stride=custody_log.STRIDE)
    nodes = db.session.execute(sa.select(CustodyTreeNode.level, CustodyTreeNode.position)).all()
    heads = db.session.scalars(sa.select(CustodyTreeHead.tree_size)).all()
    tamper_with_the_log("DELETE FROM custody_tree_nodes", "DELETE FROM custody_tree_heads")
    for level, position in nodes:
        (value,) = rebuilt.read(level, [position]).values()
        db.session.add(CustodyTreeNode(level=level, position=position, hash=value))
    for size in heads:
        db.session.add(CustodyTreeHead(tree_size=size, root_hash=HashReader(rebuilt).root(size)))
    db.session.commit()


def test_a_checkpoint_signed_by_another_key_does_not_verify(technician):
    _flag(technician, raw_sample(technician.site), 3)
    sequence_pending()
    stranger = Signer.generate("biobank.localhost/custody")
    forged = stranger.sign(signed_checkpoint().note.split("\n\n")[0] + "\n")
    report = verify_against_checkpoint(forged)
    assert "does not verify" in report.first_break.problem


def test_log_status_reports_the_oldest_pending_event(technician):
    _flag(technician, raw_sample(technician.site), 3)
    status = custody_log.log_status()
    assert (status.tree_size, status.pending) == (0, 3)
    assert 0 <= status.oldest_pending_seconds() < 60
    sequence_pending()
    status = custody_log.log_status()
    assert (status.tree_size, status.pending, status.oldest_pending_seconds()) == (3, 0, 0)
