"""Alembic environment for the session store schema; Alembic runs this file, nobody imports it.

Uses the connection handed over in ``config.attributes["connection"]`` (how
``upgrade_to_head`` migrates SQLite) or else builds an engine from ``sqlalchemy.url``; offline
mode renders SQL (how PostgreSQL is migrated: the SQL runs on asyncpg, without BEGIN/COMMIT when
``config.attributes["transactional_ddl"]`` is False). It knows the target metadata in
``store/sql/schema.py`` and nothing about stores.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool

from agent_session_manager.store.sql.schema import metadata

__all__ = ["config", "run_migrations_offline", "run_migrations_online"]

config = context.config


def _run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        # False: render no BEGIN/COMMIT (the caller runs the SQL inside its own transaction).
        transactional_ddl=config.attributes.get("transactional_ddl"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_with(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("set sqlalchemy.url or pass a connection in config.attributes")
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            _run_with(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
