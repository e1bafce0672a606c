"""The SQLite ``SessionStore``: the embedded default, one WAL-mode file, safe across processes.

How it works:

* **One writer thread, group commit.** Async callers validate and encode their input on the event
  loop, then queue a request with an ``asyncio`` future. The writer thread drains everything
  queued and writes it in one ``BEGIN IMMEDIATE`` transaction: first all together, appends
  queued one after another merged into one counter update for all their sessions and one
  ``executemany`` that skips stored ids without looking them up first; if anything in it fails
  (or an id was stored already), that attempt is rolled back and the batch is written again
  with each request inside its own ``SAVEPOINT``, its appends looking their ids up, so a
  failing request fails alone and never poisons the others. It commits once, then resolves
  the batch's futures with one ``loop.call_soon_threadsafe`` per event loop. Under load one
  commit covers hundreds of appends.
* **Sequence numbers** are reserved inside the write transaction with
  ``UPDATE asm_session_sequences … RETURNING``; ``BEGIN IMMEDIATE`` holds SQLite's write lock,
  so numbers stay gap-free even with several processes (or store instances) on one file.
  Appends are idempotent by event id: a known id returns the stored event and writes nothing.
* **Checkpoints** of the WAL into the database file run on a thread of their own
  (``_checkpointer.py``): the writer counts the pages it dirties and asks for one every
  ~10,000, so no commit waits the ~30 ms a checkpoint takes.
* **Reads** run on a few reader threads, each with its own ``query_only`` connection, never on
  the event loop; WAL lets them proceed while the writer commits.
* **Long-poll.** In-process waiters are woken by the writer thread right after the commit
  (:class:`SessionNotifier`), with no polling. The writer leaves that commit's events for each
  session somebody waits on; a woken reader whose last read saw the session's counter at exactly
  the number before them takes the matching ones without reading again (otherwise, e.g. after
  another process's commit, it re-reads). Appends made by *another* process are noticed by a
  light check instead: while anybody waits, the writer thread reads ``PRAGMA data_version``
  (which changes only when another connection commits) every ~75 ms and wakes the waiters to
  re-query when it moved. (The PostgreSQL store uses LISTEN/NOTIFY for the same purpose.)
* **Schema.** On open the Alembic revision is read with plain ``sqlite3``: at head nothing else
  happens (SQLAlchemy and Alembic are not even imported); older or missing → migrate; unknown
  (written by newer code) → ``StorageError(code="schema_too_new")`` and the file is left as is.

The modules: ``store.py`` (the public class), ``_open.py`` (connect, revision check, WAL,
migrate), ``_writer.py`` (the writer thread and group commit), ``_ops.py`` (statements, row
encoders and the writer thread's operations), ``_readers.py`` (reader threads) and
``_checkpointer.py`` (WAL checkpoints). It knows SQLite, the schema in ``store/sql/schema.py``
and the domain values; nothing about providers, orchestration or other backends.
"""

from agent_session_manager.store.sqlite._open import read_revision
from agent_session_manager.store.sqlite.store import SQLiteSessionStore

__all__ = ["SQLiteSessionStore", "read_revision"]
