"""What the two SQL session stores share: the schema, its Alembic migrations, the row codec,
the query dialect (``filters.py``) and the mapping of driver errors (``errors.py``).

The SQLite (``store/sqlite/``) and PostgreSQL (``store/postgres/``) stores keep the same tables
and encode values the same way, so a database's data means the same on both; everything that
must stay identical between them lives here once. It knows table shapes, encodings and revision
ids; it must not know either driver's connections, threads or tasks, nor either store.
"""

__all__: list[str] = []
