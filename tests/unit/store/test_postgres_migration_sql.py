"""The SQL Alembic renders for PostgreSQL: what ``upgrade_postgres`` runs inside its transaction."""

from __future__ import annotations

from agent_session_manager.store.sql.migrations import HEAD_REVISION, render_postgres_sql
from agent_session_manager.store.sql.schema import metadata


def test_the_whole_schema_renders_without_its_own_transaction() -> None:
    sql = render_postgres_sql(None)
    for table in metadata.sorted_tables:
        assert f"CREATE TABLE {table.name} (" in sql
        for index in table.indexes:
            assert f" {index.name} ON {table.name} " in sql
    assert "CREATE TABLE alembic_version" in sql
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001')" in sql
    assert f"UPDATE alembic_version SET version_num='{HEAD_REVISION}'" in sql
    statements = {line.strip().rstrip(";").upper() for line in sql.splitlines()}
    assert not statements & {"BEGIN", "COMMIT"}  # the caller's transaction holds the lock


def test_nothing_to_render_at_head() -> None:
    sql = render_postgres_sql(HEAD_REVISION)
    assert "CREATE" not in sql
    assert "INSERT" not in sql


def test_the_0002_id_encoding_is_plain_sql() -> None:
    sql = render_postgres_sql("0001", "0002")
    assert "decode(substr(e.id, 5), 'hex')" in sql
    assert "'\\xff'::bytea || convert_to(e.run_id, 'UTF8')" in sql
    assert "asm_0002_encode" not in sql  # the SQLite-only Python function
