"""The SQL schema of the SQL session stores (SQLite now, PostgreSQL later), in SQLAlchemy Core.

This module is the single description of the tables; the Alembic migrations in
``store/migrations`` create exactly what it declares (a test compares the two). Rows are kept small
because an event log grows without bound: timestamps are integer microseconds since the Unix
epoch, JSON payloads are compact orjson text, events are keyed by ``(session_id,
sequence_number)``. Sessions and runs keep a few indexed columns for filtering plus the full record
as JSON (``Session.to_dict()`` / ``Run.to_dict()``), so a new model field needs no migration.
It knows table shapes only: no driver, no connection, no query logic.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

#: Constraint names are fixed so migrations on every backend can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

#: One row per session. ``record`` is ``Session.to_dict()`` as JSON text.
asm_sessions = Table(
    "asm_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("agent_id", String(255), nullable=False),
    Column("status", String(32), nullable=False),
    Column("created_at", BigInteger, nullable=False),  # microseconds since the epoch
    Column("updated_at", BigInteger, nullable=False),
    Column("record", Text, nullable=False),
    Index("ix_asm_sessions_agent_id_id", "agent_id", "id"),
    Index("ix_asm_sessions_status_id", "status", "id"),
    Index("ix_asm_sessions_created_at", "created_at"),
)

#: One row per run. ``record`` is ``Run.to_dict()`` as JSON text.
asm_runs = Table(
    "asm_runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column(
        "session_id",
        String(64),
        ForeignKey("asm_sessions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("status", String(32), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("record", Text, nullable=False),
    Index("ix_asm_runs_session_id_created_at", "session_id", "created_at"),
)

#: The event log. ``data``/``metadata`` are JSON text; ``metadata`` is NULL when empty.
asm_events = Table(
    "asm_events",
    metadata,
    Column(
        "session_id",
        String(64),
        ForeignKey("asm_sessions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("sequence_number", BigInteger, nullable=False),
    Column("id", String(64), nullable=False),
    Column("type", String(128), nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("timestamp", BigInteger, nullable=False),  # microseconds since the epoch
    Column("data", Text, nullable=False),
    Column("metadata", Text, nullable=True),
    Column("provider", String(64), nullable=True),
    Column("schema_version", Integer, nullable=False),
    PrimaryKeyConstraint("session_id", "sequence_number"),
    Index("uq_asm_events_id", "id", unique=True),
    Index("ix_asm_events_run_id", "run_id"),
)

#: The last sequence number handed out per session; the row is created with the session.
asm_session_sequences = Table(
    "asm_session_sequences",
    metadata,
    Column(
        "session_id",
        String(64),
        ForeignKey("asm_sessions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("last_sequence", BigInteger, nullable=False),
)
