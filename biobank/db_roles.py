"""Two PostgreSQL roles (README, "Two database roles"): the tables' owner, who runs
migrations, backups and restores, and the app's role, which owns nothing and is granted
exactly what the app needs (``flask biobank grant-app-role ROLE``).

An owner can disable a table's triggers, truncate it or drop it; the app's role cannot.
On the custody log it may only read, insert, and give a sequenced event its ``log_index``
(the sequencer's one UPDATE, which the append-only trigger allows once per event): no DELETE,
no TRUNCATE, no UPDATE of any other column, nothing at all on the tree's stored subtrees and
heads but reading and inserting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from biobank.errors import DomainError

# Table -> privileges; every other table of the schema gets ORDINARY.
ORDINARY = "SELECT, INSERT, UPDATE, DELETE"
CUSTODY_LOG = {
    "events": ["SELECT, INSERT", "UPDATE (log_index)"],  # the sequencer numbers events once
    "custody_tree_nodes": ["SELECT, INSERT"],
    "custody_tree_heads": ["SELECT, INSERT"],
    "alembic_version": ["SELECT"],  # migrations run as the owner
}


class GrantFailed(DomainError):
    title = "Granting the app's role failed"
    slug = "grant-failed"


@dataclass
class Granted:
    role: str
    database: str
    tables: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def grant_app_role(owner_url: sa.URL, role: str) -> Granted:
    """Give ``role`` what the app needs in the database at ``owner_url`` (the tables' owner
    connects), first taking back anything else it was given. Safe to run again; run it after
    every migration (``init-db`` does when the app's URL names another role than the
    migrations')."""
    if owner_url.get_backend_name() != "postgresql":
        raise GrantFailed(
            "Database roles are PostgreSQL's: an SQLite database has none (its file's "
            "permissions are its only guard)."
        )
    engine = sa.create_engine(owner_url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            return _grant(connection, role)
    finally:
        engine.dispose()


def _grant(connection: sa.Connection, role: str) -> Granted:
    found = connection.execute(
        sa.text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :role"),
        {"role": role},
    ).first()
    if found is None:
        raise GrantFailed(
            f"There is no role {role}: create it first (CREATE ROLE {role} LOGIN PASSWORD …), "
            "as a role that owns nothing."
        )
    if found.rolsuper:
        raise GrantFailed(
            f"{role} is a superuser: it can do anything to the custody log whatever it is "
            "granted. Run the app as a role without SUPERUSER."
        )
    schema = connection.scalar(sa.text("SELECT current_schema()"))
    database = connection.scalar(sa.text("SELECT current_database()"))
    tables = connection.scalars(
        sa.text("SELECT tablename FROM pg_tables WHERE schemaname = :schema ORDER BY tablename"),
        {"schema": schema},
    ).all()
    if "events" not in tables:
        raise GrantFailed(
            f"{database} has no custody log yet: run `flask --app wsgi biobank init-db` first."
        )
    owned = connection.scalars(
        sa.text(
            "SELECT tablename FROM pg_tables WHERE schemaname = :schema "
            "AND pg_has_role(:role, tableowner, 'MEMBER') ORDER BY tablename"
        ),
        {"schema": schema, "role": role},
    ).all()
    if owned:
        raise GrantFailed(
            f"{role} owns (or is a member of the role that owns) {', '.join(owned)}: an owner "
            "can disable the custody log's triggers and truncate it. Run the app as a role "
            "that owns nothing; migrations run as the owner (BIOBANK_MIGRATION_DATABASE_URL)."
        )
    preparer = connection.dialect.identifier_preparer
    who, where = preparer.quote(role), preparer.quote(schema)
    run = connection.exec_driver_sql
    run(f"GRANT CONNECT ON DATABASE {preparer.quote(database)} TO {who}")
    run(f"GRANT USAGE ON SCHEMA {where} TO {who}")
    # Take back whatever it had (table privileges take their columns' with them) …
    run(f"REVOKE ALL ON ALL TABLES IN SCHEMA {where} FROM {who}")
    run(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {where} FROM {who}")
    run(f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {where} FROM {who}")
    # … then give exactly what the app needs.
    granted = Granted(role, database)
    for table in tables:
        privileges = CUSTODY_LOG.get(table, [ORDINARY])
        for privilege in privileges:
            run(f"GRANT {privilege} ON TABLE {where}.{preparer.quote(table)} TO {who}")
        granted.tables[table] = " + ".join(privileges)
    run(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {where} TO {who}")
    if connection.scalar(
        sa.text("SELECT has_schema_privilege(:role, :schema, 'CREATE')"),
        {"role": role, "schema": schema},
    ):
        granted.warnings.append(
            f"{role} may create tables in schema {schema} (PostgreSQL 14 and older let everyone): "
            f"REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC, as its owner."
        )
    return granted
