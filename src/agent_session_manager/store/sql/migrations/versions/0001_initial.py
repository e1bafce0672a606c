"""Revision 0001: the initial session store schema (sessions, runs, events, sequences).

Frozen once released: later schema changes are new revisions, never edits here. It spells out
every column rather than importing ``store/sql/schema.py``, so the revision stays what it was.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "asm_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_asm_sessions"),
    )
    op.create_index("ix_asm_sessions_agent_id_id", "asm_sessions", ["agent_id", "id"])
    op.create_index("ix_asm_sessions_status_id", "asm_sessions", ["status", "id"])
    op.create_index("ix_asm_sessions_created_at", "asm_sessions", ["created_at"])

    op.create_table(
        "asm_runs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_asm_runs"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["asm_sessions.id"],
            name="fk_asm_runs_session_id_asm_sessions",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_asm_runs_session_id_created_at", "asm_runs", ["session_id", "created_at"])

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


def downgrade() -> None:
    op.drop_table("asm_session_sequences")
    op.drop_index("ix_asm_events_run_id", table_name="asm_events")
    op.drop_index("uq_asm_events_id", table_name="asm_events")
    op.drop_table("asm_events")
    op.drop_index("ix_asm_runs_session_id_created_at", table_name="asm_runs")
    op.drop_table("asm_runs")
    op.drop_index("ix_asm_sessions_created_at", table_name="asm_sessions")
    op.drop_index("ix_asm_sessions_status_id", table_name="asm_sessions")
    op.drop_index("ix_asm_sessions_agent_id_id", table_name="asm_sessions")
    op.drop_table("asm_sessions")
