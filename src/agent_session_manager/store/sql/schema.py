"""The SQL schema of the SQL session stores (SQLite and PostgreSQL), in SQLAlchemy Core.

This module is the single description of the tables; the Alembic migrations in
``store/sql/migrations`` create exactly what it declares (a test compares the two). Rows are kept
small because an event log grows without bound: timestamps are integer microseconds since the Unix
epoch, JSON payloads are compact orjson text, events are keyed by an integer session key and
their sequence number, and event/run ids are 16 bytes (revision 0002). Sessions and runs keep a
few indexed columns for filtering plus the full record as JSON (``Session.to_dict()`` /
``Run.to_dict()``), so a new model field needs no migration.
It knows table shapes only: no driver, no connection, no query logic.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

__all__ = [
    "NAMING_CONVENTION",
    "asm_events",
    "asm_runs",
    "asm_session_sequences",
    "asm_sessions",
    "metadata",
]

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

#: The last sequence number handed out per session, and the session's integer key in the event
#: log; the row is created with the session. (SQLite makes ``session_key`` its rowid.)
asm_session_sequences = Table(
    "asm_session_sequences",
    metadata,
    Column(
        "session_key",
        BigInteger().with_variant(Integer(), "sqlite"),
        Identity(),
        primary_key=True,
    ),
    Column(
        "session_id",
        String(64),
        ForeignKey("asm_sessions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("last_sequence", BigInteger, nullable=False),
    Index("uq_asm_session_sequences_session_id", "session_id", unique=True),
)

#: The event log, keyed by ``(session_key, sequence_number)``. ``id`` and ``run_id`` are encoded
#: by ``store/_idcodec.py`` (16 bytes for the library's own ids); ``data``/``metadata`` are JSON
#: text, ``metadata`` NULL when empty.
#:
#: No index on ``run_id``: a run's events are read and deleted within its session's key range.
#: A second index ordered by session or run puts one more page per session in every commit
#: (measured with 100 sessions appending during runs: 25,000 -> 37,000 events/s on SQLite).
#: No foreign key either: checked row by row it cost PostgreSQL a quarter of its insert time;
#: the stores write events only under their session's counter row, locked in the same
#: transaction, and delete them together with it.
asm_events = Table(
    "asm_events",
    metadata,
    Column("session_key", BigInteger, nullable=False),
    Column("sequence_number", BigInteger, nullable=False),
    Column("id", LargeBinary, nullable=False),
    Column("type", String(128), nullable=False),
    Column("run_id", LargeBinary, nullable=True),
    Column("timestamp", BigInteger, nullable=False),  # microseconds since the epoch
    Column("data", Text, nullable=False),
    Column("metadata", Text, nullable=True),
    Column("provider", String(64), nullable=True),
    Column("schema_version", Integer, nullable=False),
    PrimaryKeyConstraint("session_key", "sequence_number"),
    Index("uq_asm_events_id", "id", unique=True),
)
