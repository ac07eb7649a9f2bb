"""The custody log as a transparency log (DESIGN §7a): the sequencer that gives committed
events their place in the Merkle tree, signed checkpoints, proofs, and verification.

As in Certificate Transparency (Trillian's sequencer), writers only insert their events with
their own leaf hashes; one sequencer at a time (a PostgreSQL advisory lock held by it alone;
SQLite's write lock) numbers committed events in order, stores the tree's new complete
subtrees at every ``STRIDE``-th level and a new tree head. Nothing is lost if a process dies
between an event's commit and its sequencing: the next run picks it up.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from biobank.db import AnySession, table_of, utcnow
from biobank.errors import ServiceUnavailable, ValidationFailed
from biobank.extensions import db
from biobank.models import CustodyTreeHead, CustodyTreeNode, Event, Sample, Site, User
from biobank.services.core.custody import leaf_bytes
from biobank.services.core.samples import get_sample
from biobank.services.core.settings import setting
from biobank.tlog.merkle import (
    EMPTY_ROOT,
    CompactRange,
    HashReader,
    ProofError,
    inclusion_ranges,
    leaf_hash,
    new_stored_subtrees,
)
from biobank.tlog.note import Checkpoint, NoteError, Signer, Verifier, open_checkpoint

STRIDE = 4
# Any constant would do; it names the lock in pg_locks for whoever is debugging.
SEQUENCER_LOCK_KEY = 0x42494F53  # "BIOS"
SEQUENCE_BATCH = 10_000
VERIFY_BATCH = 5_000


# --- the stored tree --------------------------------------------------------------------------


def _runs(indices: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted indices as inclusive (first, last) runs: one BETWEEN each in a query."""
    runs: list[tuple[int, int]] = []
    for index in indices:
        if runs and runs[-1][1] == index - 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    return runs


class StoredTree:
    """The custody log's hashes as the database keeps them: leaves in ``events.leaf_hash`` by
    ``log_index``, complete subtrees every ``STRIDE`` levels in ``custody_tree_nodes``."""

    stride = STRIDE

    def __init__(self, session: AnySession) -> None:
        self.session = session

    def read(self, level: int, indices: Sequence[int]) -> dict[int, bytes]:
        if not indices:
            return {}
        scope: sa.ColumnElement[bool]
        if level == 0:
            column, value, scope = Event.log_index, Event.leaf_hash, sa.true()
        else:
            column, value = CustodyTreeNode.position, CustodyTreeNode.hash
            scope = CustodyTreeNode.level == level
        found: dict[int, bytes] = {}
        runs = _runs(indices)
        for start in range(0, len(runs), 200):
            chunk = runs[start : start + 200]
            ranges = sa.or_(*(column.between(first, last) for first, last in chunk))
            rows = self.session.execute(sa.select(column, value).where(scope, ranges))
            found.update((index, bytes(hash_)) for index, hash_ in rows if index is not None)
        return found


def tree_head(session: AnySession | None = None) -> CustodyTreeHead | None:
    """The newest tree head: the log as published."""
    session = session or db.session
    return session.scalar(
        sa.select(CustodyTreeHead).order_by(CustodyTreeHead.tree_size.desc()).limit(1)
    )


# --- the sequencer ----------------------------------------------------------------------------


def take_sequencer_lock(*, wait: bool) -> bool:
    """The right to sequence, until the transaction ends. PostgreSQL: an advisory lock only
    sequencers take (writers never do). SQLite: the caller's write transaction is the lock."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        return True
    if wait:
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(SEQUENCER_LOCK_KEY)))
        return True
    return bool(connection.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(SEQUENCER_LOCK_KEY))))


def sequence_batch(limit: int = SEQUENCE_BATCH) -> int:
    """Give up to ``limit`` committed, unsequenced events the next log indices (in id order),
    store the subtrees they complete and the new tree head. The caller holds the sequencer
    lock and commits. Answers how many events were sequenced."""
    session = db.session
    pending = session.execute(
        sa.select(Event.id, Event.leaf_hash)
        .where(Event.log_index.is_(None))
        .order_by(Event.id)
        .limit(limit)
    ).all()
    if not pending:
        return 0
    head = tree_head(session)
    size = head.tree_size if head else 0
    ids = [row.id for row in pending]
    indices = list(range(size, size + len(pending)))
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(
            sa.text(
                "UPDATE events SET log_index = numbered.log_index "
                "FROM unnest(CAST(:ids AS bigint[]), CAST(:indices AS bigint[])) "
                "AS numbered(id, log_index) WHERE events.id = numbered.id"
            ),
            {"ids": ids, "indices": indices},
        )
    else:
        connection.execute(
            sa.text("UPDATE events SET log_index = :log_index WHERE id = :id"),
            [{"id": i, "log_index": n} for i, n in zip(ids, indices, strict=True)],
        )
    extend_tree(session, size, [bytes(row.leaf_hash) for row in pending])
    return len(pending)


def extend_tree(session: AnySession, size: int, leaves: Sequence[bytes]) -> int:
    """Store the subtrees that ``leaves`` (log indices ``size`` onwards, already given to
    their events) complete, and the new tree head. The caller holds the sequencer lock.
    Answers the new tree size."""
    reader = HashReader(StoredTree(session))
    completed = new_stored_subtrees(size, list(leaves), reader)
    connection = session.connection()
    if completed:
        connection.execute(
            sa.insert(table_of(CustodyTreeNode)),
            [{"level": lv, "position": p, "hash": h} for lv, p, h in completed],
        )
    new_size = size + len(leaves)
    connection.execute(
        sa.insert(table_of(CustodyTreeHead)),
        {"tree_size": new_size, "root_hash": reader.root(new_size), "sequenced_at": utcnow()},
    )
    return new_size


@dataclass(frozen=True)
class LogStatus:
    tree_size: int
    sequenced_at: datetime | None
    pending: int
    oldest_pending_at: datetime | None

    def oldest_pending_seconds(self, now: datetime | None = None) -> float:
        if self.oldest_pending_at is None:
            return 0.0
        return max(0.0, ((now or utcnow()) - self.oldest_pending_at).total_seconds())


def log_status(session: AnySession | None = None) -> LogStatus:
    """How far the sequencer has got: the tree's size and what still waits (the delay from
    commit to sequenced is the oldest pending event's age)."""
    session = session or db.session
    head = tree_head(session)
    unsequenced = sa.select(Event.id).where(Event.log_index.is_(None))
    pending = session.scalar(sa.select(sa.func.count()).select_from(unsequenced.subquery()))
    oldest = session.scalar(
        sa.select(Event.recorded_at).where(Event.log_index.is_(None)).order_by(Event.id).limit(1)
    )
    return LogStatus(
        tree_size=head.tree_size if head else 0,
        sequenced_at=head.sequenced_at if head else None,
        pending=pending or 0,
        oldest_pending_at=oldest,
    )


# --- the signing key and checkpoints --------------------------------------------------------

_signers: dict[tuple[str, float], Signer] = {}
_signers_lock = threading.Lock()


def create_log_key(path: Path, origin: str) -> Signer:
    """A new Ed25519 signing key for the log named ``origin``, written to ``path`` (readable by
    its owner only). Refuses to replace a key: checkpoints already kept elsewhere name it."""
    signer = Signer.generate(origin)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(signer.encode() + "\n")
    return signer


def log_signer() -> Signer:
    """The log's signing key, from the file ``BIOBANK_LOG_KEY_FILE`` names (never the
    database: whoever holds the database must not be able to sign a rewritten history)."""
    raw_path = setting("BIOBANK_LOG_KEY_FILE")
    origin = setting("BIOBANK_LOG_ORIGIN")
    if not raw_path:
        raise ServiceUnavailable(
            "The custody log's signing key is not configured: set BIOBANK_LOG_KEY_FILE (create "
            "one with `flask --app wsgi biobank log-keygen`)."
        )
    path = Path(raw_path)
    try:
        stamp = path.stat().st_mtime
    except FileNotFoundError:
        if not setting("BIOBANK_LOG_KEY_AUTOCREATE"):
            raise ServiceUnavailable(
                f"The custody log's signing key file {path} does not exist: create it with "
                "`flask --app wsgi biobank log-keygen`."
            ) from None
        with _signers_lock:
            if not path.exists():
                create_log_key(path, origin)
        stamp = path.stat().st_mtime
    key = (str(path), stamp)
    signer = _signers.get(key)
    if signer is None:
        try:
            signer = Signer.decode(path.read_text())
        except (NoteError, OSError) as error:
            raise ServiceUnavailable(
                f"The custody log's signing key file {path}: {error}"
            ) from None
        with _signers_lock:
            _signers[key] = signer
    if signer.name != origin:
        raise ServiceUnavailable(
            f"The custody log's signing key is for {signer.name!r}, but BIOBANK_LOG_ORIGIN is "
            f"{origin!r}: set one to match the other."
        )
    return signer


def log_verifier_key() -> str:
    """The verifier key in the form Go's sumdb/note reads: ``<name>+<key id>+<key>``."""
    return log_signer().verifier.encode()


@dataclass(frozen=True)
class SignedCheckpoint:
    note: str
    tree_size: int
    root_hash: bytes
    sequenced_at: datetime | None


def signed_checkpoint(head: CustodyTreeHead | None = None) -> SignedCheckpoint:
    """The newest tree head (or ``head``), signed as a C2SP checkpoint."""
    signer = log_signer()
    head = head if head is not None else tree_head()
    size, root = (head.tree_size, bytes(head.root_hash)) if head else (0, EMPTY_ROOT)
    note = signer.sign(Checkpoint(signer.name, size, root).text())
    return SignedCheckpoint(note, size, root, head.sequenced_at if head else None)


# --- proofs -----------------------------------------------------------------------------------


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _leaf_columns() -> sa.Select:
    """Every column a leaf names, joined to the names it uses."""
    return (
        sa.select(
            Event.id,
            Event.type,
            Event.at,
            Event.recorded_at,
            User.username,
            Site.code,
            Sample.barcode,
            Event.collection_id,
            Event.shipment_id,
            Event.container_id,
            Event.reason,
            Event.details,
            Event.leaf_hash,
            Event.log_index,
        )
        .select_from(Event)
        .outerjoin(User, User.id == Event.actor_id)
        .outerjoin(Site, Site.id == Event.site_id)
        .outerjoin(Sample, Sample.id == Event.sample_id)
    )


def _leaf_of_row(row: Any) -> bytes:
    return leaf_bytes(
        id=row.id,
        type=row.type,
        at=row.at,
        recorded_at=row.recorded_at,
        actor=row.username,
        site=row.code,
        sample=row.barcode,
        collection_id=row.collection_id,
        shipment_id=row.shipment_id,
        container_id=row.container_id,
        reason=row.reason,
        details=row.details,
    )


@dataclass(frozen=True)
class ProvenEvent:
    id: int
    type: str
    at: datetime
    leaf_index: int
    leaf: bytes
    inclusion_proof: list[bytes]


@dataclass(frozen=True)
class PendingEvent:
    id: int
    type: str
    at: datetime


@dataclass(frozen=True)
class CustodyProof:
    checkpoint: SignedCheckpoint
    barcode: str
    events: list[ProvenEvent] = field(default_factory=list)
    pending: list[PendingEvent] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "barcode": self.barcode,
            "checkpoint": self.checkpoint.note,
            "tree_size": self.checkpoint.tree_size,
            "events": [
                {
                    "id": e.id,
                    "type": e.type,
                    "at": e.at,
                    "leaf_index": e.leaf_index,
                    "leaf": _b64(e.leaf),
                    "inclusion_proof": [_b64(h) for h in e.inclusion_proof],
                }
                for e in self.events
            ],
            "pending": [{"id": e.id, "type": e.type, "at": e.at} for e in self.pending],
        }


def custody_proof(user: User, text: str) -> CustodyProof:
    """Every event of one tube with its leaf and its inclusion proof against the newest signed
    checkpoint: an auditor checks the tube in O(log n) hashes, without the rest of the log.
    Leaves are rebuilt from the rows as they are now, so an altered event fails its proof."""
    sample = get_sample(user, text)
    head = tree_head()
    checkpoint = signed_checkpoint(head)
    size = checkpoint.tree_size
    rows = db.session.execute(
        _leaf_columns().where(Event.sample_id == sample.id).order_by(Event.id)
    ).all()
    in_tree = sorted(
        (row for row in rows if row.log_index is not None and row.log_index < size),
        key=lambda row: row.log_index,
    )
    reader = HashReader(StoredTree(db.session))
    ranges_per_event = [inclusion_ranges(row.log_index, size) for row in in_tree]
    hashes = reader.hashes([r for ranges in ranges_per_event for r in ranges])
    proven, cursor = [], 0
    for row, ranges in zip(in_tree, ranges_per_event, strict=True):
        proof = hashes[cursor : cursor + len(ranges)]
        cursor += len(ranges)
        proven.append(
            ProvenEvent(row.id, row.type, row.at, row.log_index, _leaf_of_row(row), proof)
        )
    pending = [
        PendingEvent(row.id, row.type, row.at)
        for row in rows
        if row.log_index is None or row.log_index >= size
    ]
    return CustodyProof(checkpoint, sample.barcode, proven, pending)


def consistency_proof(old_size: int, new_size: int) -> list[bytes]:
    """RFC 9162 consistency proof between two sizes of the published tree."""
    head = tree_head()
    size = head.tree_size if head else 0
    errors: dict[str, list[str]] = {}
    if not 1 <= old_size <= size:
        errors["from"] = [f"Give a tree size from 1 to {size}, the log's size now."]
    if not 1 <= new_size <= size:
        errors["to"] = [f"Give a tree size from 1 to {size}, the log's size now."]
    elif old_size > new_size and "from" not in errors:
        errors["from"] = ["The older size cannot be larger than the newer."]
    if errors:
        raise ValidationFailed.for_fields(errors)
    return HashReader(StoredTree(db.session)).consistency_proof(old_size, new_size)


# --- verification -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainBreak:
    event_id: int | None
    problem: str


@dataclass(frozen=True)
class ChainReport:
    """What a verification checked: ``checked`` events, the tree's size, and the first thing
    that did not fit (``None``: intact)."""

    checked: int
    first_break: ChainBreak | None
    tree_size: int = 0
    pending: int = 0

    @property
    def intact(self) -> bool:
        return self.first_break is None


def _rows_in_log_order(session: AnySession, start: int, stop: int | None) -> Iterator[Any]:
    next_index = start
    while True:
        stmt = _leaf_columns().where(Event.log_index >= next_index)
        if stop is not None:
            stmt = stmt.where(Event.log_index < stop)
        chunk = session.execute(stmt.order_by(Event.log_index).limit(VERIFY_BATCH)).all()
        if not chunk:
            return
        yield from chunk
        next_index = chunk[-1].log_index + 1


def _unsequenced_rows(session: AnySession) -> Iterator[Any]:
    last_id = 0
    while True:
        chunk = session.execute(
            _leaf_columns()
            .where(Event.log_index.is_(None), Event.id > last_id)
            .order_by(Event.id)
            .limit(VERIFY_BATCH)
        ).all()
        if not chunk:
            return
        yield from chunk
        last_id = chunk[-1].id


def _altered(row: Any) -> ChainBreak | None:
    if leaf_hash(_leaf_of_row(row)) != bytes(row.leaf_hash):
        return ChainBreak(row.id, "its content does not match its leaf hash (altered)")
    return None


class _NodeCheck:
    """Compares recomputed subtrees with the stored ones, a batch at a time."""

    def __init__(self, session: AnySession) -> None:
        self.store = StoredTree(session)
        self.waiting: dict[int, dict[int, bytes]] = {}
        self.count = 0

    def add(self, level: int, position: int, value: bytes) -> ChainBreak | None:
        self.waiting.setdefault(level, {})[position] = value
        self.count += 1
        return self.flush() if self.count >= VERIFY_BATCH else None

    def flush(self) -> ChainBreak | None:
        for level, expected in sorted(self.waiting.items()):
            stored = self.store.read(level, sorted(expected))
            for position, value in sorted(expected.items()):
                if stored.get(position) != value:
                    self.waiting, self.count = {}, 0
                    return ChainBreak(
                        None,
                        f"the stored tree's subtree at level {level}, position {position} does "
                        "not match its leaves (the tree was altered)",
                    )
        self.waiting, self.count = {}, 0
        return None


def verify_chain(session: AnySession | None = None) -> ChainReport:
    """Check the whole log: every event's leaf against its content, the log's indices without
    a gap, every stored subtree and every tree head against the leaves. Without a checkpoint
    kept elsewhere this cannot tell a history rewritten with every hash recomputed; see
    ``verify_against_checkpoint``."""
    session = session or db.session
    heads = iter(
        session.execute(
            sa.select(CustodyTreeHead.tree_size, CustodyTreeHead.root_hash).order_by(
                CustodyTreeHead.tree_size
            )
        ).all()
    )
    next_head = next(heads, None)
    tree = CompactRange()
    nodes = _NodeCheck(session)
    checked = 0

    def report(problem: ChainBreak | None) -> ChainReport:
        return ChainReport(checked, problem, tree.size)

    for row in _rows_in_log_order(session, 0, None):
        if row.log_index != tree.size:
            return report(
                ChainBreak(
                    row.id,
                    f"leaf {tree.size} of the log is missing before it (an event was removed)",
                )
            )
        broken = _altered(row)
        if broken:
            return report(broken)
        for level, position, value in tree.append(bytes(row.leaf_hash)):
            if level and level % STRIDE == 0:
                broken = nodes.add(level, position, value)
                if broken:
                    return report(broken)
        checked += 1
        while next_head is not None and next_head.tree_size == tree.size:
            if tree.root() != bytes(next_head.root_hash):
                return report(
                    ChainBreak(row.id, f"the tree head of size {tree.size} does not match the log")
                )
            next_head = next(heads, None)
    broken = nodes.flush()
    if broken:
        return report(broken)
    if next_head is not None:
        return report(
            ChainBreak(
                None,
                f"a tree head says the log held {next_head.tree_size} events, but it holds "
                f"{tree.size} (events were removed from its end)",
            )
        )
    pending = 0
    for row in _unsequenced_rows(session):
        broken = _altered(row)
        if broken:
            return report(broken)
        pending += 1
        checked += 1
    return ChainReport(checked, None, tree.size, pending)


def verify_against_checkpoint(
    note: str, verifier: Verifier | None = None, session: AnySession | None = None
) -> ChainReport:
    """Check that today's log extends a checkpoint kept elsewhere: the log is not shorter, its
    first ``size`` leaves still hash to the checkpoint's root, and everything added since
    matches its leaves and the newest tree head. Costs O(log n) for the part the checkpoint
    covers and grows only with what was added since."""
    session = session or db.session
    verifier = verifier or log_signer().verifier
    try:
        checkpoint = open_checkpoint(note, verifier)
    except NoteError as error:
        return ChainReport(0, ChainBreak(None, f"the checkpoint does not verify: {error}"))
    head = tree_head(session)
    size = head.tree_size if head else 0
    if size < checkpoint.size:
        return ChainReport(
            0,
            ChainBreak(
                None,
                f"the log holds {size} events, fewer than the {checkpoint.size} of the "
                "checkpoint (events were removed)",
            ),
            size,
        )
    reader = HashReader(StoredTree(session))
    try:
        old_root = reader.root(checkpoint.size)
    except ProofError as error:
        return ChainReport(0, ChainBreak(None, f"the stored tree is incomplete: {error}"), size)
    if old_root != checkpoint.root:
        return ChainReport(
            0,
            ChainBreak(
                None,
                f"the log does not extend the checkpoint: its first {checkpoint.size} events "
                "are not the ones the checkpoint signed (history was rewritten)",
            ),
            size,
        )
    checked = 0
    new_leaves: list[bytes] = []
    first_new = checkpoint.size
    for row in _rows_in_log_order(session, checkpoint.size, size):
        if row.log_index != first_new + len(new_leaves):
            return ChainReport(
                checked,
                ChainBreak(row.id, f"leaf {first_new + len(new_leaves)} of the log is missing"),
                size,
            )
        broken = _altered(row)
        if broken:
            return ChainReport(checked, broken, size)
        new_leaves.append(bytes(row.leaf_hash))
        checked += 1
    if first_new + len(new_leaves) != size:
        return ChainReport(
            checked,
            ChainBreak(None, f"the log's newest tree head says {size} events, the log is shorter"),
            size,
        )
    rebuilt = HashReader(StoredTree(session))
    completed = new_stored_subtrees(first_new, new_leaves, rebuilt)
    stored = _NodeCheck(session)
    for level, position, value in completed:
        broken = stored.add(level, position, value)
        if broken:
            return ChainReport(checked, broken, size)
    broken = stored.flush()
    if broken:
        return ChainReport(checked, broken, size)
    if head is not None and rebuilt.root(size) != bytes(head.root_hash):
        return ChainReport(
            checked, ChainBreak(None, "the newest tree head does not match the log"), size
        )
    pending = 0
    for row in _unsequenced_rows(session):
        broken = _altered(row)
        if broken:
            return ChainReport(checked, broken, size, pending)
        pending += 1
        checked += 1
    return ChainReport(checked, None, size, pending)
