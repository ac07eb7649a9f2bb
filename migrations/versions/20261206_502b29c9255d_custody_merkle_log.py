"""The chain of custody becomes a transparency log: a Merkle tree with a sequencer.

Events lose their hash chain (each linked to the one before, so every writer queued on one
lock) and gain their own RFC 9162 leaf hash, written with the event, and a ``log_index`` the
sequencer gives them once committed. The tree's stored subtrees and its heads get tables of
their own. Everything stays append-only in the database: UPDATE (but for a log_index given
once), DELETE and now TRUNCATE are refused by trigger.

Existing events are upgraded without loss: the old chain is verified first (a broken chain is
not laundered into a freshly signed tree: the upgrade stops and says where it broke), each
event's leaf hash is computed, and the sequencer then numbers them in their old chain order.

Revision ID: 502b29c9255d
Revises: 3c5e9a1f7d20
Create Date: 2026-12-06 08:00:00
"""

import hashlib
import json

import sqlalchemy as sa
from alembic import op

import biobank.db

revision = "502b29c9255d"
down_revision = "3c5e9a1f7d20"
branch_labels = None
depends_on = None

UNSEQUENCED = sa.text("log_index IS NULL")
MESSAGE = "{table} are append-only: the chain of custody cannot be changed"
# Every column of events but log_index: an UPDATE naming any of them is refused.
FROZEN_EVENT_COLUMNS = (
    "id, type, at, recorded_at, actor_id, site_id, sample_id, collection_id, shipment_id, "
    "container_id, reason, details, leaf_hash"
)
APPEND_ONLY_TABLES = ("custody_tree_nodes", "custody_tree_heads")
BATCH = 5000

events = sa.table(
    "events",
    sa.column("id", sa.Integer),
    sa.column("type", sa.String),
    sa.column("at", biobank.db.UTCDateTime()),
    sa.column("actor_id", sa.Integer),
    sa.column("site_id", sa.Integer),
    sa.column("sample_id", sa.Integer),
    sa.column("collection_id", sa.Integer),
    sa.column("shipment_id", sa.Integer),
    sa.column("container_id", sa.Integer),
    sa.column("reason", sa.Text),
    sa.column("details", sa.JSON),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
    sa.column("leaf_hash", sa.LargeBinary),
    sa.column("recorded_at", biobank.db.UTCDateTime()),
)
# What every revision before this one has: the content the old chain hashed, and its links.
CHAINED = [c for c in events.c if c.name not in ("leaf_hash", "recorded_at")]
users = sa.table("users", sa.column("id", sa.Integer), sa.column("username", sa.String))
sites = sa.table("sites", sa.column("id", sa.Integer), sa.column("code", sa.String))
samples = sa.table("samples", sa.column("id", sa.Integer), sa.column("barcode", sa.String))


def _chain_hash(row, prev_hash):
    """The hash chain of revisions before this one (frozen here: it is being retired)."""
    content = {
        "type": row.type,
        "at": row.at.isoformat(),
        "actor_id": row.actor_id,
        "site_id": row.site_id,
        "sample_id": row.sample_id,
        "collection_id": row.collection_id,
        "shipment_id": row.shipment_id,
        "container_id": row.container_id,
        "reason": row.reason,
        "details": row.details,
        "prev_hash": prev_hash,
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _in_batches(bind, stmt):
    last_id = 0
    while True:
        rows = bind.execute(stmt.where(events.c.id > last_id).order_by(events.c.id).limit(BATCH)).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id


def _verify_old_chain(bind):
    expected = "0" * 64
    for row in _in_batches(bind, sa.select(*CHAINED)):
        if row.prev_hash != expected or _chain_hash(row, row.prev_hash) != row.hash:
            raise RuntimeError(
                f"the chain of custody is broken at event {row.id}: the upgrade stops rather "
                "than sign an altered history into the new log; restore a good backup (or "
                "investigate with `flask biobank audit-verify` on the previous version) first"
            )
        expected = row.hash


def _fill_leaves(bind):
    from biobank.services.core.custody import leaf_bytes
    from biobank.tlog.merkle import leaf_hash

    stmt = (
        sa.select(*CHAINED, users.c.username, sites.c.code, samples.c.barcode)
        .select_from(events)
        .outerjoin(users, users.c.id == events.c.actor_id)
        .outerjoin(sites, sites.c.id == events.c.site_id)
        .outerjoin(samples, samples.c.id == events.c.sample_id)
    )
    update = (
        events.update()
        .where(events.c.id == sa.bindparam("event_id"))
        .values(recorded_at=events.c.at, leaf_hash=sa.bindparam("leaf"))
    )
    pending = []
    for row in _in_batches(bind, stmt):
        leaf = leaf_bytes(
            id=row.id,
            type=row.type,
            at=row.at,
            recorded_at=row.at,
            actor=row.username,
            site=row.code,
            sample=row.barcode,
            collection_id=row.collection_id,
            shipment_id=row.shipment_id,
            container_id=row.container_id,
            reason=row.reason,
            details=row.details,
        )
        pending.append({"event_id": row.id, "leaf": leaf_hash(leaf)})
        if len(pending) >= BATCH:
            bind.execute(update, pending)
            pending = []
    if pending:
        bind.execute(update, pending)


def _drop_old_triggers(dialect):
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_append_only ON events")
        op.execute("DROP FUNCTION IF EXISTS events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS events_no_update")
        op.execute("DROP TRIGGER IF EXISTS events_no_delete")


def create_append_only_triggers(dialect):
    if dialect == "postgresql":
        op.execute(
            """
            CREATE FUNCTION custody_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '% are append-only: the chain of custody cannot be changed (% refused)', TG_TABLE_NAME, TG_OP;
            END
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            f"CREATE TRIGGER events_append_only BEFORE UPDATE OF {FROZEN_EVENT_COLUMNS} "
            "OR DELETE ON events FOR EACH ROW EXECUTE FUNCTION custody_append_only()"
        )
        op.execute(
            "CREATE TRIGGER events_log_index_once BEFORE UPDATE OF log_index ON events "
            "FOR EACH ROW WHEN (OLD.log_index IS NOT NULL) "
            "EXECUTE FUNCTION custody_append_only()"
        )
        for table in ("events", *APPEND_ONLY_TABLES):
            if table != "events":
                op.execute(
                    f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION custody_append_only()"
                )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION custody_append_only()"
            )
        return
    message = MESSAGE.format(table="events")
    op.execute(
        f"CREATE TRIGGER events_no_update BEFORE UPDATE OF {FROZEN_EVENT_COLUMNS} ON events "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
    )
    op.execute(
        "CREATE TRIGGER events_log_index_once BEFORE UPDATE OF log_index ON events "
        f"WHEN OLD.log_index IS NOT NULL BEGIN SELECT RAISE(ABORT, '{message}'); END"
    )
    op.execute(
        f"CREATE TRIGGER events_no_delete BEFORE DELETE ON events "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
    )
    for table in APPEND_ONLY_TABLES:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE.format(table=table)}'); END"
            )


def drop_append_only_triggers(dialect):
    if dialect == "postgresql":
        for table in ("events", *APPEND_ONLY_TABLES):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP TRIGGER IF EXISTS events_log_index_once ON events")
        op.execute("DROP FUNCTION IF EXISTS custody_append_only()")
        return
    for name in ("events_no_update", "events_log_index_once", "events_no_delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for table in APPEND_ONLY_TABLES:
        for operation in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{operation}")


def upgrade():
    bind = op.get_bind()
    dialect = bind.dialect.name
    _verify_old_chain(bind)
    _drop_old_triggers(dialect)
    with op.batch_alter_table("events") as batch_op:
        batch_op.add_column(sa.Column("recorded_at", biobank.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=True))
        batch_op.add_column(sa.Column("log_index", sa.BigInteger(), nullable=True))
    _fill_leaves(bind)
    with op.batch_alter_table("events") as batch_op:
        batch_op.alter_column("recorded_at", existing_type=biobank.db.UTCDateTime(), nullable=False)
        batch_op.alter_column("leaf_hash", existing_type=sa.LargeBinary(length=32), nullable=False)
        batch_op.drop_constraint("uq_events_hash", type_="unique")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.create_unique_constraint("uq_events_log_index", ["log_index"])
        batch_op.create_index(
            "ix_events_unsequenced",
            ["id"],
            sqlite_where=UNSEQUENCED,
            postgresql_where=UNSEQUENCED,
        )
    op.create_table(
        "custody_tree_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "position", name="pk_custody_tree_nodes"),
    )
    op.create_table(
        "custody_tree_heads",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("sequenced_at", biobank.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", name="pk_custody_tree_heads"),
    )
    create_append_only_triggers(dialect)


def downgrade():
    """Back to the hash chain, in log order (then id order for events never sequenced)."""
    bind = op.get_bind()
    dialect = bind.dialect.name
    drop_append_only_triggers(dialect)
    op.drop_table("custody_tree_heads")
    op.drop_table("custody_tree_nodes")
    with op.batch_alter_table("events") as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    previous = "0" * 64
    update = (
        events.update()
        .where(events.c.id == sa.bindparam("event_id"))
        .values(prev_hash=sa.bindparam("prev"), hash=sa.bindparam("own"))
    )
    ordered = sa.text(
        "SELECT id FROM events ORDER BY CASE WHEN log_index IS NULL THEN 1 ELSE 0 END, "
        "log_index, id"
    )
    ids = [row.id for row in bind.execute(ordered)]
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        rows = {r.id: r for r in bind.execute(sa.select(*CHAINED).where(events.c.id.in_(chunk)))}
        changes = []
        for event_id in chunk:
            own = _chain_hash(rows[event_id], previous)
            changes.append({"event_id": event_id, "prev": previous, "own": own})
            previous = own
        bind.execute(update, changes)
    with op.batch_alter_table("events") as batch_op:
        batch_op.drop_index("ix_events_unsequenced")
        batch_op.drop_constraint("uq_events_log_index", type_="unique")
        batch_op.drop_column("log_index")
        batch_op.drop_column("leaf_hash")
        batch_op.drop_column("recorded_at")
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint("uq_events_hash", ["hash"])
    if dialect == "postgresql":
        op.execute(
            """
            CREATE FUNCTION events_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'events are append-only: the chain of custody cannot be changed (% refused)', TG_OP;
            END
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
            "FOR EACH ROW EXECUTE FUNCTION events_append_only()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER events_no_{operation.lower()} BEFORE {operation} ON events "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE.format(table='events')}'); END"
            )
