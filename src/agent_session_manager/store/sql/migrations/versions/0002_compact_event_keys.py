"""Revision 0002: compact event keys (integer session key, 16-byte event and run ids).

Events were keyed by ``(session_id, sequence_number)`` with 36-character text ids repeated in
the row and in three indexes (~800 bytes per event of ~500 bytes of data, and one large index
entry per session touched by every commit). Now:

* ``asm_session_sequences`` gains ``session_key``, an integer primary key (SQLite's rowid), and
  keeps ``session_id`` under a unique index;
* ``asm_events`` holds ``session_key`` instead of ``session_id``, without a foreign key (checked
  row by row it cost PostgreSQL a quarter of its insert time; the stores write events only under
  the session's locked counter row and delete them with it); ``id`` and ``run_id`` are
  bytes: the 16 bytes of a library id (``evt_``/``run_`` + 32 hex digits, not starting with
  ``ff``), anything else as ``0xFF`` + UTF-8; there is no index on ``run_id`` any more (a
  run's events are found within its session's key range: a second index ordered by session or
  run put one more page per session in every commit, a third fewer appends per second).

Rows are copied into the new tables (sessions keep their creation order in ``session_key``) and
the old ones dropped, in the migration's one transaction. The id encoding is spelled out here
rather than imported (the revision must stay what it was); ``store/_idcodec.py`` is the live copy
and the seeded-data test checks both agree. Downgrade copies everything back.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_GENERAL = b"\xff"


def _encode(value: str | None, prefix: str) -> bytes | None:
    if value is None:
        return None
    if len(value) == 36 and value.startswith(prefix) and value[4:6] != "ff":
        tail = value[4:]
        try:
            raw = bytes.fromhex(tail)
        except ValueError:
            raw = b""
        if len(raw) == 16 and raw.hex() == tail:
            return raw
    return _GENERAL + value.encode()


def _decode(raw: bytes | None, prefix: str) -> str | None:
    if raw is None:
        return None
    if raw[:1] == _GENERAL:
        return raw[1:].decode()
    return prefix + raw.hex()


def _sqlite() -> bool:
    return op.get_context().dialect.name == "sqlite"


def _id_sql(column: str, prefix: str) -> str:
    """SQL turning a text id column into its bytes (the Python ``_encode`` on SQLite)."""
    if _sqlite():
        return f"asm_0002_encode({column}, '{prefix}')"
    general = f"'\\xff'::bytea || convert_to({column}, 'UTF8')"
    canonical = f"decode(substr({column}, 5), 'hex')"
    return (
        f"CASE WHEN {column} ~ '^{prefix}[0-9a-f]{{32}}$' AND substr({column}, 5, 2) <> 'ff'"
        f" THEN {canonical} ELSE {general} END"
    )


def _text_sql(column: str, prefix: str) -> str:
    """SQL turning an encoded id column back into text."""
    if _sqlite():
        return f"asm_0002_decode({column}, '{prefix}')"
    return (
        f"CASE WHEN get_byte({column}, 0) = 255 THEN convert_from(substr({column}, 2), 'UTF8')"
        f" ELSE '{prefix}' || encode({column}, 'hex') END"
    )


def _register_sqlite_functions() -> None:
    if not _sqlite():
        return
    dbapi = op.get_bind().connection.driver_connection
    assert dbapi is not None, "SQLite migrations run on an open connection"
    dbapi.create_function("asm_0002_encode", 2, _encode, deterministic=True)
    dbapi.create_function("asm_0002_decode", 2, _decode, deterministic=True)


def _rename_old(table: str, indexes: tuple[str, ...]) -> None:
    """Move ``table`` aside as ``<table>_old``, freeing its index and key names."""
    for index in indexes:
        op.drop_index(index, table_name=table)
    op.rename_table(table, f"{table}_old")
    if not _sqlite():  # PostgreSQL names the primary key's index after the constraint
        op.execute(f"ALTER INDEX pk_{table} RENAME TO pk_{table}_old")


def upgrade() -> None:
    _register_sqlite_functions()
    _rename_old("asm_events", ("uq_asm_events_id", "ix_asm_events_run_id"))
    _rename_old("asm_session_sequences", ())

    op.create_table(
        "asm_session_sequences",
        sa.Column(
            "session_key",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            nullable=False,
        ),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("session_key", name="pk_asm_session_sequences"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["asm_sessions.id"],
            name="fk_asm_session_sequences_session_id_asm_sessions",
            ondelete="CASCADE",
        ),
    )
    # Every session gets a counter: the old one, or one rebuilt from its log.
    op.execute(
        "INSERT INTO asm_session_sequences (session_id, last_sequence)"
        " SELECT s.id, COALESCE(q.last_sequence, (SELECT MAX(e.sequence_number)"
        " FROM asm_events_old e WHERE e.session_id = s.id), 0)"
        " FROM asm_sessions s LEFT JOIN asm_session_sequences_old q ON q.session_id = s.id"
        " ORDER BY s.created_at, s.id"
    )
    op.create_index(
        "uq_asm_session_sequences_session_id",
        "asm_session_sequences",
        ["session_id"],
        unique=True,
    )

    op.create_table(
        "asm_events",
        sa.Column("session_key", sa.BigInteger(), nullable=False),
        sa.Column("sequence_number", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.LargeBinary(), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("run_id", sa.LargeBinary(), nullable=True),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("metadata", sa.Text(), nullable=True),
        sa.Column("provider", sa.String(64), nullable=True),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("session_key", "sequence_number", name="pk_asm_events"),
    )
    op.execute(
        "INSERT INTO asm_events (session_key, sequence_number, id, type, run_id, timestamp,"
        " data, metadata, provider, schema_version)"
        f" SELECT q.session_key, e.sequence_number, {_id_sql('e.id', 'evt_')}, e.type,"
        f" {_id_sql('e.run_id', 'run_')}, e.timestamp, e.data, e.metadata, e.provider,"
        " e.schema_version FROM asm_events_old e"
        " JOIN asm_session_sequences q ON q.session_id = e.session_id"
        " ORDER BY q.session_key, e.sequence_number"
    )
    op.create_index("uq_asm_events_id", "asm_events", ["id"], unique=True)
    op.drop_table("asm_events_old")
    op.drop_table("asm_session_sequences_old")


def downgrade() -> None:
    _register_sqlite_functions()
    _rename_old("asm_events", ("uq_asm_events_id",))
    op.drop_index("uq_asm_session_sequences_session_id", table_name="asm_session_sequences")
    _rename_old("asm_session_sequences", ())

    op.create_table(
        "asm_events",
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("sequence_number", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("metadata", sa.Text(), nullable=True),
        sa.Column("provider", sa.String(64), nullable=True),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "sequence_number", name="pk_asm_events"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["asm_sessions.id"],
            name="fk_asm_events_session_id_asm_sessions",
            ondelete="CASCADE",
        ),
    )
    op.execute(
        "INSERT INTO asm_events (session_id, sequence_number, id, type, run_id, timestamp, data,"
        " metadata, provider, schema_version)"
        f" SELECT q.session_id, e.sequence_number, {_text_sql('e.id', 'evt_')}, e.type,"
        f" {_text_sql('e.run_id', 'run_')}, e.timestamp, e.data, e.metadata, e.provider,"
        " e.schema_version FROM asm_events_old e"
        " JOIN asm_session_sequences_old q ON q.session_key = e.session_key"
    )
    op.create_index("uq_asm_events_id", "asm_events", ["id"], unique=True)
    op.create_index("ix_asm_events_run_id", "asm_events", ["run_id"])

    op.create_table(
        "asm_session_sequences",
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name="pk_asm_session_sequences"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["asm_sessions.id"],
            name="fk_asm_session_sequences_session_id_asm_sessions",
            ondelete="CASCADE",
        ),
    )
    op.execute(
        "INSERT INTO asm_session_sequences (session_id, last_sequence)"
        " SELECT session_id, last_sequence FROM asm_session_sequences_old"
    )
    op.drop_table("asm_events_old")
    op.drop_table("asm_session_sequences_old")
