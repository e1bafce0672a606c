"""The PostgreSQL ``SessionStore``: many processes and hosts sharing one database, on asyncpg.

How it works:

* **Writer tasks, group commit.** Callers validate and encode their input on the event loop
  and queue a request with a future. A writer task owning a dedicated connection drains the
  queue and runs everything waiting in one transaction, then resolves the futures (``writers``
  such tasks, two by default, commit concurrently: while one batch is at the server the event
  loop works on another's callers; a burst is shared among idle writers only in shares of at
  least ``MIN_SHARE``). Requests in one batch are
  concurrent by definition (no caller awaited another), so the writer is free to run the
  session/run writes first (each inside its own SAVEPOINT, so a failing one is rolled back
  alone) and then every append of the batch together: one query locks the sessions' counters
  (``SELECT … FOR UPDATE`` in ``session_id`` order, so batches from different processes never
  deadlock) and reserves the numbers (``UPDATE asm_session_sequences … RETURNING``, which also
  sends the NOTIFY), one binary ``COPY`` writes the rows: four round trips per batch with BEGIN
  and COMMIT, whatever its size. Appends are idempotent by id without a lookup on the way: a
  stored id fails the ``COPY`` (unique violation) and the batch runs again with the same query
  also finding the stored ids, which are then returned as stored and not written.
* **Sequence numbers** are reserved inside the write transaction while the counter rows are
  locked, so they stay gap-free and strictly increasing with any number of processes. A batch
  that loses a race (deadlock, serialization failure, an event id inserted meanwhile by another
  process) is retried; a batch failing for another reason is re-run request by request, so one
  bad request never fails the others.
* **Reads** go through an asyncpg connection pool.
* **Long-poll.** Every append transaction sends ``NOTIFY asm_events, '<session id>'``. Each store
  keeps one ``LISTEN`` connection (opened on the first wait) and wakes its waiters
  (:class:`SessionNotifier`) when another process commits; appends by this store wake local
  waiters directly after the commit.
* **Schema.** On open the Alembic revision is read with plain asyncpg: at head nothing else
  happens; older or missing → migrate (Alembic renders the upgrade as PostgreSQL SQL, asyncpg
  runs it under an advisory lock; Alembic and SQLAlchemy are imported only then); unknown →
  ``StorageError(code="schema_too_new")`` and nothing is changed.

The modules: ``store.py`` (the public class), ``_open.py`` (DSN, connect, schema check and
migration), ``_writer.py`` (write queue, writer tasks, retries), ``_ops.py`` (statements, row
encoders, the writers' operations, COPY) and ``_listen.py`` (the LISTEN connection). Importing
this package without asyncpg installed fails with an install hint. It knows PostgreSQL, the
schema in ``store/sql/schema.py`` and the domain values; nothing about providers,
orchestration or other backends.
"""

from __future__ import annotations

from agent_session_manager.core.extras import install_hint

with install_hint("the PostgreSQL store"):  # first: a missing driver fails with the hint
    import asyncpg  # noqa: F401

from agent_session_manager.store.postgres._open import asyncpg_dsn, prepare_schema
from agent_session_manager.store.postgres.store import STORE_TABLES, PostgresSessionStore

__all__ = ["STORE_TABLES", "PostgresSessionStore", "asyncpg_dsn", "prepare_schema"]
