"""The public conformance suite for ``SessionStore`` backends (pytest + Hypothesis).

Every store shipped with agent-session-manager passes it, and so must a third-party store: the
suite is the executable form of the contract written in ``store/protocol.py``. It talks to a store
only through the protocol, so it knows nothing about any backend's internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_session_manager.core.errors import (
    ConcurrencyError,
    RunNotFound,
    SessionNotFound,
    ValidationError,
)
from agent_session_manager.core.events import (
    TERMINAL_EVENT_OF,
    TERMINAL_RUN_EVENTS,
    Event,
    EventType,
)
from agent_session_manager.core.lifecycle import RunStatus, SessionStatus
from agent_session_manager.core.models import Run, Session
from agent_session_manager.store.protocol import ReportsStorage, SessionStore
from agent_session_manager.testing._store_children import PROCESS_APPENDS

__all__ = ["CRASH_KILLS", "HANG_GUARD_S", "InjectedFailure", "SessionStoreConformance"]

#: Upper bound for anything that should happen "at once"; only there to stop a hang, never a
#: performance assertion (the benchmarks measure speed).
HANG_GUARD_S = 20.0

#: Writer processes SIGKILLed by the crash-safety test.
CRASH_KILLS = 20

_BASE_TIME = datetime(2030, 1, 1, tzinfo=UTC)
_CUSTOM_TYPE = "conformance.note"


class SessionStoreConformance:
    """Subclass this in your tests to check a ``SessionStore`` against the shared contract.

    Provide an async ``store`` fixture that yields a **fresh, empty, open** store and closes it
    afterwards::

        import pytest
        from agent_session_manager.testing.store_conformance import SessionStoreConformance

        class TestMyStore(SessionStoreConformance):
            @pytest.fixture
            async def store(self, tmp_path):
                store = await MyStore.open(tmp_path / "store.db")
                yield store
                await store.close()

    Optional hooks unlock the tests a backend can support (without them those tests skip, with the
    reason):

    * a ``store_url`` fixture returning a URL that :attr:`store_opener` (default:
      :func:`~agent_session_manager.open_store`) opens, **in another OS process**, to the same
      data as ``store`` (the default fixture returns ``None``): enables the multi-process tests
      (4 processes and 100 tasks appending to one session; long-poll woken by another process;
      20 SIGKILLs of a writer process);
    * :meth:`fail_after_events_written`: a context manager during which every write that
      inserts events raises :class:`InjectedFailure` right after the rows are inserted, inside
      the transaction: enables the mid-transaction atomicity tests.

    The tests are ``async`` methods; they need pytest-asyncio (``asyncio_mode = "auto"``, or
    define the fixture with ``@pytest_asyncio.fixture`` in strict mode: the class already carries
    the ``asyncio`` mark). Override a test method to skip it only if your backend documents why.

    What the suite checks:

    * **Sequences**: numbers start at 1 and are gap-free and strictly increasing per session under
      1,000 concurrent appending tasks over 100 sessions, and under random interleavings of
      single appends and batches (Hypothesis); a batch is numbered contiguously in input order.
    * **Idempotency**: appending an event id that is already stored returns the stored copy and
      writes nothing, alone, in a batch, and when the id repeats inside one batch.
    * **Reads**: ``get_events`` with ``after``/``before`` (exclusive), ``limit``, ``run_id``,
      ``types``, ``since`` (inclusive)/``until`` (exclusive) and their edges; unknown or empty
      sessions have no events; ``latest_sequence`` is 0 for them.
    * **Long-poll**: ``wait_for_events`` returns at once when events exist, is woken by an append
      from another task (long before its timeout), ignores other sessions and types it does not
      want, and returns ``[]`` on timeout.
    * **Atomicity**: ``flush`` writes run, session and events together or not at all, also when
      the transaction fails after the events were inserted; ``append_events`` likewise;
      ``delete_session`` removes runs, events and the sequence.
    * **Run integrity**: ``flush(run_from=...)`` writes only from the expected status (else
      ``ConcurrencyError`` ``run_state_changed`` and nothing written); two claims of a pending
      run and two finalizers of a running one race and exactly one wins, with exactly one
      terminal event; an event of an ended run is refused (``run_ended``), also while appends
      race the terminal write, and a stored one is still returned as stored.
    * **Deleting runs and events** (``delete_runs``, ``delete_events``, what retention uses): a run
      goes with every event carrying its id, and only those; the events that remain keep their
      numbers, ``latest_sequence`` is unchanged and numbering continues past the gap (a deleted
      number is never reused); cursors, ``before``, filters and long-poll read across the gap;
      unknown ids are ignored, another session's events are untouched; bad input raises
      ``ValidationError`` and deletes nothing.
    * **Processes** (with ``store_url``): 4 OS processes and 100 tasks appending to one session
      stay gap-free; ``wait_for_events`` is woken by another process's append; a writer
      process SIGKILLed at random moments 20 times leaves no torn batch, no gap, and every
      append it saw acknowledged; two processes ending the same runs win one each, and a run
      ended in one process refuses the events another process appends to it.
    * **Storage statistics** (stores implementing the optional ``ReportsStorage``):
      ``storage_stats()`` counts sessions, runs and events exactly as they are stored and
      deleted, and a byte figure, when given, covers a stored payload.
    * **Fidelity**: custom event types, unknown data keys, unicode and a 1 MB payload round-trip
      unchanged; sessions and runs round-trip equal.
    * **Queries**: ``list_sessions`` filters (status, agent, all-of tags, ``created_after``
      inclusive / ``created_before`` exclusive, limit) and cursor pagination newest first without
      duplicates or gaps; ``list_runs`` oldest first with status and limit.
    * **Rejections**: appending to an unknown session, data that is not JSON (a set, an object),
      a zero or negative limit, a malformed event type, a negative cursor or timeout all raise
      ``ValidationError`` and write nothing; unknown ids raise ``SessionNotFound`` /
      ``RunNotFound``.
    """

    pytestmark = [pytest.mark.asyncio]

    # -- hooks for backends ---------------------------------------------------------------------
    #: ``"module:function"``: an async function taking ``store_url`` and returning an open store;
    #: the multi-process tests import and call it in their child processes.
    store_opener = "agent_session_manager.store.factory:open_store"

    @pytest.fixture
    def store_url(self) -> str | None:
        """Override: a URL ``open_store`` opens, in another process, to the data of ``store``."""
        return None

    def fail_after_events_written(
        self, store: SessionStore
    ) -> contextlib.AbstractContextManager[Any]:
        """Override: while active, writes inserting events raise :class:`InjectedFailure` after
        inserting them, inside their transaction (e.g. by patching the backend's insert)."""
        pytest.skip(f"{type(store).__name__} offers no way to fail a write mid-transaction")

    @staticmethod
    def require_url(store_url: str | None) -> str:
        if store_url is None:
            pytest.skip("needs a store_url fixture: a URL another process can open")
        return store_url

    # -- helpers ----------------------------------------------------------------------------
    @staticmethod
    async def new_session(store: SessionStore, **fields: Any) -> Session:
        fields.setdefault("agent_id", "conformance-agent")
        session = Session(**fields)
        await store.save_session(session)
        return session

    @staticmethod
    def event(session_id: str, n: int = 0, **fields: Any) -> Event:
        fields.setdefault("type", _CUSTOM_TYPE)
        fields.setdefault("data", {"n": n})
        return Event(session_id=session_id, **fields)

    @staticmethod
    def numbers(events: Sequence[Event]) -> list[int | None]:
        return [e.sequence_number for e in events]

    # -- sequence numbers -------------------------------------------------------------------
    async def test_sequences_start_at_one_and_increase(self, store: SessionStore) -> None:
        session = await self.new_session(store)
        stored = [await store.append_event(self.event(session.id, i)) for i in range(5)]
        assert self.numbers(stored) == [1, 2, 3, 4, 5]
        assert await store.latest_sequence(session.id) == 5
        fetched = await store.get_events(session.id)
        assert fetched == stored

    async def test_concurrent_appends_are_gap_free(self, store: SessionStore) -> None:
        sessions = [await self.new_session(store) for _ in range(100)]
        events = [self.event(sessions[i % 100].id, i) for i in range(1000)]
        stored = await asyncio.gather(*(store.append_event(e) for e in events))
        assert [s.id for s in stored] == [e.id for e in events]
        for session in sessions:
            mine = sorted(s.sequence_number or 0 for s in stored if s.session_id == session.id)
            assert mine == list(range(1, 11))
            assert await store.latest_sequence(session.id) == 10
            log = await store.get_events(session.id)
            assert self.numbers(log) == list(range(1, 11))
            assert {e.id for e in log} == {s.id for s in stored if s.session_id == session.id}

    @settings(
        max_examples=25,
        deadline=None,
        # One store per test is intended (each example uses fresh sessions), and every
        # subclass runs this same method on its own instance.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.differing_executors,
        ],
    )
    @given(
        plan=st.lists(
            st.tuples(st.integers(0, 2), st.integers(1, 6), st.booleans()),
            min_size=1,
            max_size=25,
        )
    )
    async def test_random_interleavings_of_batches_stay_gap_free(
        self, store: SessionStore, plan: list[tuple[int, int, bool]]
    ) -> None:
        sessions = [await self.new_session(store) for _ in range(3)]

        async def write(index: int, size: int, one_by_one: bool) -> list[Event]:
            batch = [self.event(sessions[index].id, k) for k in range(size)]
            if one_by_one:
                return [await store.append_event(e) for e in batch]
            return await store.append_events(batch)

        results = await asyncio.gather(*(write(*step) for step in plan))
        for (index, size, one_by_one), stored in zip(plan, results, strict=True):
            numbers = [n or 0 for n in self.numbers(stored)]
            assert numbers == sorted(numbers)
            assert len(set(numbers)) == size
            if not one_by_one:  # one transaction: contiguous, in input order
                assert numbers == list(range(numbers[0], numbers[0] + size))
            assert all(e.session_id == sessions[index].id for e in stored)
        for index, session in enumerate(sessions):
            total = sum(size for i, size, _ in plan if i == index)
            log = await store.get_events(session.id)
            assert self.numbers(log) == list(range(1, total + 1))
            assert await store.latest_sequence(session.id) == total

    # -- idempotency ------------------------------------------------------------------------
    async def test_append_is_idempotent_by_id(self, store: SessionStore) -> None:
        session = await self.new_session(store)
        event = self.event(session.id, 1)
        first = await store.append_event(event)
        again = await store.append_event(event)
        impostor = Event(type=_CUSTOM_TYPE, session_id=session.id, data={"n": 99}, id=event.id)
        third = await store.append_event(impostor)
        assert first.sequence_number == again.sequence_number == third.sequence_number == 1
        assert again == first
        assert third == first
        assert third.data == {"n": 1}
        assert await store.latest_sequence(session.id) == 1
        assert await store.get_events(session.id) == [first]

    async def test_append_events_is_idempotent_and_dedupes_within_a_batch(
        self, store: SessionStore
    ) -> None:
        session = await self.new_session(store)
        a, b, c = (self.event(session.id, i) for i in range(3))
        stored = await store.append_events([a, b, a])
        assert self.numbers(stored) == [1, 2, 1]
        assert stored[0] == stored[2]
        again = await store.append_events([b, c, c])
        assert self.numbers(again) == [2, 3, 3]
        assert again[0] == stored[1]
        assert await store.latest_sequence(session.id) == 3
        assert [e.id for e in await store.get_events(session.id)] == [a.id, b.id, c.id]

    async def test_append_events_is_contiguous_in_input_order(self, store: SessionStore) -> None:
        one = await self.new_session(store)
        two = await self.new_session(store)
        await store.append_events([self.event(one.id), self.event(one.id)])
        batch = [
            self.event(one.id, 1),
            self.event(two.id, 2),
            self.event(one.id, 3),
            self.event(one.id, 4),
            self.event(two.id, 5),
        ]
        stored = await store.append_events(batch)
        assert [e.id for e in stored] == [e.id for e in batch]
        assert self.numbers(stored) == [3, 1, 4, 5, 2]
        assert [e.data["n"] for e in await store.get_events(one.id, after=2)] == [1, 3, 4]
        assert await store.append_events([]) == []
        assert await store.latest_sequence(one.id) == 5

    # -- reading events -----------------------------------------------------------------------
    async def test_get_events_cursor_bounds_and_limits(self, store: SessionStore) -> None:
        session = await self.new_session(store)
        await store.append_events([self.event(session.id, i) for i in range(10)])
        sid = session.id

        async def numbers(**query: Any) -> list[int | None]:
            return self.numbers(await store.get_events(sid, **query))

        assert await numbers() == list(range(1, 11))
        assert await numbers(after=3) == list(range(4, 11))
        assert await numbers(before=5) == [1, 2, 3, 4]
        assert await numbers(after=3, before=6) == [4, 5]
        assert await numbers(after=5, before=6) == []
        assert await numbers(after=10) == []
        assert await numbers(after=99) == []
        assert await numbers(before=1) == []
        assert await numbers(before=0) == []
        assert await numbers(limit=1) == [1]
        assert await numbers(limit=3) == [1, 2, 3]
        assert await numbers(after=8, limit=5) == [9, 10]
        assert await numbers(limit=1000) == list(range(1, 11))

    async def test_unknown_and_empty_sessions_have_no_events(self, store: SessionStore) -> None:
        empty = await self.new_session(store)
        for sid in (empty.id, "ses_does_not_exist"):
            assert await store.get_events(sid) == []
            assert await store.get_events(sid, after=0, limit=5) == []
            assert await store.latest_sequence(sid) == 0

    async def test_get_events_filters_by_run_and_type(self, store: SessionStore) -> None:
        session = await self.new_session(store)
        kinds = ["a.one", "a.two", "a.three"]
        runs = ["run_1", "run_2", None]
        await store.append_events(
            [
                self.event(session.id, i, type=kinds[i % 3], run_id=runs[i % 2 if i < 8 else 2])
                for i in range(12)
            ]
        )
        events = await store.get_events(session.id)

        def expect(pred: Any) -> list[int | None]:
            return self.numbers([e for e in events if pred(e)])

        got = await store.get_events(session.id, run_id="run_1")
        assert self.numbers(got) == expect(lambda e: e.run_id == "run_1")
        got = await store.get_events(session.id, types=["a.one", "a.three"])
        assert self.numbers(got) == expect(lambda e: e.type in ("a.one", "a.three"))
        got = await store.get_events(session.id, types=["a.two"], run_id="run_2", limit=1)
        assert self.numbers(got) == expect(lambda e: e.type == "a.two" and e.run_id == "run_2")[:1]
        got = await store.get_events(session.id, types=["a.one"], after=4)
        assert self.numbers(got) == expect(
            lambda e: e.type == "a.one" and (e.sequence_number or 0) > 4
        )
        assert await store.get_events(session.id, types=["never.used"]) == []
        assert await store.get_events(session.id, types=[]) == []
        assert await store.get_events(session.id, run_id="run_unknown") == []

    async def test_get_events_time_range(self, store: SessionStore) -> None:
        session = await self.new_session(store)
        times = [_BASE_TIME + timedelta(seconds=i) for i in range(5)]
        await store.append_events(
            [self.event(session.id, i, timestamp=t) for i, t in enumerate(times)]
        )

        async def numbers(**query: Any) -> list[int | None]:
            return self.numbers(await store.get_events(session.id, **query))

        assert await numbers(since=times[1]) == [2, 3, 4, 5]  # since is inclusive
        assert await numbers(until=times[3]) == [1, 2, 3]  # until is exclusive
        assert await numbers(since=times[1], until=times[3]) == [2, 3]
        assert await numbers(since=times[1] + timedelta(microseconds=1)) == [3, 4, 5]
        assert await numbers(since=times[4] + timedelta(seconds=1)) == []
        assert await numbers(since=times[2], limit=1) == [3]
        stored = await store.get_events(session.id)
        assert [e.timestamp for e in stored] == times

    # -- long-poll ------------------------------------------------------------------------------
    async def test_wait_returns_at_once_when_events_exist(self, store: SessionStore) -> None:
        session = await self.new_session(store)
        await store.append_events([self.event(session.id, i) for i in range(3)])
        started = time.monotonic()
        got = await store.wait_for_events(session.id, after=1, timeout=HANG_GUARD_S)
        assert self.numbers(got) == [2, 3]
        assert time.monotonic() - started < HANG_GUARD_S / 2
        got = await store.wait_for_events(session.id, after=0, timeout=0)
        assert self.numbers(got) == [1, 2, 3]
        got = await store.wait_for_events(session.id, after=0, timeout=HANG_GUARD_S, limit=2)
        assert self.numbers(got) == [1, 2]

    async def test_wait_is_woken_by_an_append_from_another_task(self, store: SessionStore) -> None:
        session = await self.new_session(store)
        waiter = asyncio.create_task(
            store.wait_for_events(session.id, after=0, timeout=HANG_GUARD_S)
        )
        await asyncio.sleep(0.05)
        assert not waiter.done()
        started = time.monotonic()
        stored = await store.append_event(self.event(session.id, 7))
        got = await asyncio.wait_for(waiter, HANG_GUARD_S * 2)
        assert got == [stored]
        # Woken by the append, not by the timeout (a timed-out wait returns []).
        assert time.monotonic() - started < HANG_GUARD_S / 2

    async def test_wait_ignores_other_sessions_and_unwanted_types(
        self, store: SessionStore
    ) -> None:
        mine = await self.new_session(store)
        other = await self.new_session(store)
        waiter = asyncio.create_task(
            store.wait_for_events(mine.id, after=0, timeout=HANG_GUARD_S, types=["wanted.type"])
        )
        await asyncio.sleep(0.05)
        await store.append_event(self.event(other.id, 1, type="wanted.type"))
        await store.append_event(self.event(mine.id, 2, type="unwanted.type"))
        await asyncio.sleep(0.2)
        assert not waiter.done()
        wanted = await store.append_event(self.event(mine.id, 3, type="wanted.type"))
        got = await asyncio.wait_for(waiter, HANG_GUARD_S * 2)
        assert got == [wanted]
        assert wanted.sequence_number == 2

    async def test_wait_returns_empty_on_timeout(self, store: SessionStore) -> None:
        session = await self.new_session(store)
        assert await store.wait_for_events(session.id, after=0, timeout=0) == []
        assert await store.wait_for_events(session.id, after=0, timeout=0.1) == []
        await store.append_event(self.event(session.id))
        assert await store.wait_for_events(session.id, after=1, timeout=0.1) == []
        assert await store.wait_for_events("ses_does_not_exist", after=0, timeout=0.05) == []

    # -- flush and atomicity ----------------------------------------------------------------------
    async def _running(self, store: SessionStore) -> tuple[Session, Run]:
        session = await self.new_session(store, status=SessionStatus.ACTIVE)
        run = Run(session_id=session.id).transition(RunStatus.RUNNING)
        await store.save_run(run)
        await store.append_event(self.event(session.id, 0, run_id=run.id))
        return session, run

    async def _assert_unchanged(self, store: SessionStore, session: Session, run: Run) -> None:
        assert await store.get_session(session.id) == session
        assert await store.get_run(run.id) == run
        assert await store.latest_sequence(session.id) == 1
        assert len(await store.get_events(session.id)) == 1

    async def test_flush_persists_run_session_and_events(self, store: SessionStore) -> None:
        session, run = await self._running(store)
        done = run.transition(RunStatus.COMPLETED, output={"content": "ok"})
        ended = session.transition(SessionStatus.COMPLETED)
        events = [self.event(session.id, i, run_id=run.id) for i in (1, 2)]
        stored = await store.flush(run=done, session=ended, events=events)
        assert self.numbers(stored) == [2, 3]
        assert [e.id for e in stored] == [e.id for e in events]
        assert await store.get_run(run.id) == done
        assert await store.get_session(session.id) == ended
        assert self.numbers(await store.get_events(session.id)) == [1, 2, 3]
        assert await store.flush(run=done) == []
        assert await store.get_run(run.id) == done

    async def test_flush_with_an_invalid_event_writes_nothing(self, store: SessionStore) -> None:
        session, run = await self._running(store)
        done = run.transition(RunStatus.COMPLETED)
        ended = session.transition(SessionStatus.COMPLETED)
        bad = self.event(session.id, data={"not_json": {1, 2}})
        with pytest.raises(ValidationError):
            await store.flush(
                run=done, session=ended, events=[self.event(session.id, 1, run_id=run.id), bad]
            )
        await self._assert_unchanged(store, session, run)

    async def test_flush_with_a_run_of_an_unknown_session_writes_nothing(
        self, store: SessionStore
    ) -> None:
        session, run = await self._running(store)
        stray = Run(session_id="ses_does_not_exist")
        ended = session.transition(SessionStatus.COMPLETED)
        with pytest.raises(ValidationError):
            await store.flush(run=stray, session=ended, events=[self.event(session.id, 1)])
        await self._assert_unchanged(store, session, run)
        with pytest.raises(RunNotFound):
            await store.get_run(stray.id)

    async def test_flush_with_an_event_of_an_unknown_session_writes_nothing(
        self, store: SessionStore
    ) -> None:
        session, run = await self._running(store)
        done = run.transition(RunStatus.COMPLETED)
        ended = session.transition(SessionStatus.COMPLETED)
        events = [self.event(session.id, 1), self.event("ses_does_not_exist", 2)]
        with pytest.raises(ValidationError):
            await store.flush(run=done, session=ended, events=events)
        await self._assert_unchanged(store, session, run)

    async def test_flush_creates_a_session_with_its_first_events(self, store: SessionStore) -> None:
        session = Session(agent_id="conformance-agent")
        created = self.event(session.id, 1)
        stored = await store.flush(session=session, events=[created])
        assert self.numbers(stored) == [1]
        assert await store.get_session(session.id) == session
        assert await store.get_events(session.id) == stored
        # Without a run: a session's status change and its lifecycle event, together.
        active = session.transition(SessionStatus.ACTIVE)
        assert self.numbers(await store.flush(session=active, events=[self.event(session.id)])) == [
            2
        ]
        assert (await store.get_session(session.id)).status is SessionStatus.ACTIVE

    async def test_flush_of_a_new_session_with_a_bad_event_writes_nothing(
        self, store: SessionStore
    ) -> None:
        session = Session(agent_id="conformance-agent")
        bad = self.event(session.id, data={"not_json": object()})
        with pytest.raises(ValidationError):
            await store.flush(session=session, events=[self.event(session.id), bad])
        with pytest.raises(SessionNotFound):
            await store.get_session(session.id)
        assert await store.latest_sequence(session.id) == 0
        assert await store.get_events(session.id) == []

    # -- run integrity: guarded writes, closed logs --------------------------------------------
    @staticmethod
    def terminal(run: Run, status: RunStatus) -> Event:
        return Event(type=TERMINAL_EVENT_OF[status], session_id=run.session_id, run_id=run.id)

    async def terminal_events(self, store: SessionStore, run: Run) -> list[Event]:
        events = await store.get_events(run.session_id, run_id=run.id)
        return [e for e in events if e.type in TERMINAL_RUN_EVENTS]

    async def test_guarded_flush_writes_only_from_the_expected_status(
        self, store: SessionStore
    ) -> None:
        session, run = await self._running(store)
        done = run.transition(RunStatus.COMPLETED)
        await store.flush(
            run=done, events=[self.terminal(run, RunStatus.COMPLETED)], run_from=RunStatus.RUNNING
        )
        late = run.transition(RunStatus.CANCELLED)
        paused = session.transition(SessionStatus.PAUSED)
        with pytest.raises(ConcurrencyError) as caught:
            await store.flush(
                run=late,
                session=paused,
                events=[self.terminal(run, RunStatus.CANCELLED)],
                run_from=RunStatus.RUNNING,
            )
        assert caught.value.code == "run_state_changed"
        assert caught.value.details["found"] == "completed"
        # Nothing of the losing write: not its run, its session or its event.
        assert await store.get_run(run.id) == done
        assert await store.get_session(session.id) == session
        assert [e.type for e in await self.terminal_events(store, run)] == ["run_completed"]
        assert await store.latest_sequence(session.id) == 2

    async def test_guarded_flush_of_an_unknown_run_writes_nothing(
        self, store: SessionStore
    ) -> None:
        session = await self.new_session(store, status=SessionStatus.ACTIVE)
        ghost = Run(session_id=session.id).transition(RunStatus.RUNNING)
        with pytest.raises(ConcurrencyError) as caught:
            await store.flush(
                run=ghost, events=[self.event(session.id)], run_from=RunStatus.PENDING
            )
        assert caught.value.code == "run_state_changed"
        with pytest.raises(RunNotFound):
            await store.get_run(ghost.id)
        assert await store.latest_sequence(session.id) == 0
        with pytest.raises(ValidationError):
            await store.flush(events=[self.event(session.id)], run_from=RunStatus.PENDING)

    async def test_two_claims_of_a_pending_run_exactly_one_wins(self, store: SessionStore) -> None:
        session = await self.new_session(store, status=SessionStatus.ACTIVE)
        for _ in range(10):
            run = Run(session_id=session.id)
            await store.save_run(run)
            claims = [
                store.flush(run=run.transition(RunStatus.RUNNING, model=m), run_from=run.status)
                for m in ("a", "b")
            ]
            outcomes = await asyncio.gather(*claims, return_exceptions=True)
            lost = [o for o in outcomes if isinstance(o, BaseException)]
            assert len(lost) == 1, outcomes
            assert isinstance(lost[0], ConcurrencyError)
            assert lost[0].code == "run_state_changed"
            assert (await store.get_run(run.id)).status is RunStatus.RUNNING

    async def test_two_finalizers_race_exactly_one_wins(self, store: SessionStore) -> None:
        session = await self.new_session(store, status=SessionStatus.ACTIVE)
        for _ in range(10):
            run = Run(session_id=session.id).transition(RunStatus.RUNNING)
            await store.save_run(run)
            endings = [
                store.flush(
                    run=run.transition(status),
                    events=[self.event(session.id, run_id=run.id), self.terminal(run, status)],
                    run_from=RunStatus.RUNNING,
                )
                for status in (RunStatus.COMPLETED, RunStatus.CANCELLED)
            ]
            outcomes = await asyncio.gather(*endings, return_exceptions=True)
            won = [i for i, o in enumerate(outcomes) if not isinstance(o, BaseException)]
            assert len(won) == 1, outcomes
            status = (RunStatus.COMPLETED, RunStatus.CANCELLED)[won[0]]
            assert (await store.get_run(run.id)).status is status
            terminal = await self.terminal_events(store, run)
            assert [e.type for e in terminal] == [self.terminal(run, status).type]
            assert len(await store.get_events(session.id, run_id=run.id)) == 2

    async def test_no_event_may_follow_a_terminal_event(self, store: SessionStore) -> None:
        session, run = await self._running(store)
        first = (await store.get_events(session.id))[0]
        await store.flush(
            run=run.transition(RunStatus.CANCELLED),
            events=[self.terminal(run, RunStatus.CANCELLED)],
            run_from=RunStatus.RUNNING,
        )
        latest = await store.latest_sequence(session.id)
        with pytest.raises(ConcurrencyError) as caught:
            await store.append_event(self.event(session.id, run_id=run.id))
        assert caught.value.code == "run_ended"
        with pytest.raises(ConcurrencyError):  # all or nothing: the other event is not written
            await store.append_events(
                [self.event(session.id), self.event(session.id, run_id=run.id)]
            )
        with pytest.raises(ConcurrencyError):
            await store.flush(events=[self.event(session.id, run_id=run.id)])
        assert await store.latest_sequence(session.id) == latest
        # A stored event is still answered with its stored copy (a retried append).
        assert await store.append_event(first) == first
        # Other runs' events, and events of no run, go on as before.
        other = Run(session_id=session.id).transition(RunStatus.RUNNING)
        await store.save_run(other)
        stored = await store.append_events(
            [self.event(session.id, run_id=other.id), self.event(session.id)]
        )
        assert self.numbers(stored) == [latest + 1, latest + 2]

    async def test_appends_racing_a_terminal_write_never_follow_it(
        self, store: SessionStore
    ) -> None:
        session = await self.new_session(store, status=SessionStatus.ACTIVE)
        for round_ in range(5):
            run = Run(session_id=session.id).transition(RunStatus.RUNNING)
            await store.save_run(run)

            async def append_until_refused(run: Run = run) -> int:
                appended = 0
                while True:
                    try:
                        await store.append_event(self.event(session.id, run_id=run.id))
                    except ConcurrencyError:
                        return appended
                    appended += 1
                    await asyncio.sleep(0)  # an in-memory append never yields by itself

            writers = [asyncio.create_task(append_until_refused()) for _ in range(4)]
            await asyncio.sleep(0.005 * round_)
            await store.flush(
                run=run.transition(RunStatus.CANCELLED),
                events=[self.terminal(run, RunStatus.CANCELLED)],
                run_from=RunStatus.RUNNING,
            )
            appended = await asyncio.wait_for(asyncio.gather(*writers), HANG_GUARD_S)
            events = await store.get_events(session.id, run_id=run.id)
            assert events[-1].type == "run_cancelled"
            assert len(events) == sum(appended) + 1

    async def test_append_events_is_all_or_nothing(self, store: SessionStore) -> None:
        session = await self.new_session(store)
        await store.append_event(self.event(session.id))
        good = self.event(session.id, 1)
        for bad in (
            self.event("ses_does_not_exist", 2),
            self.event(session.id, data={"not_json": object()}),
        ):
            with pytest.raises(ValidationError):
                await store.append_events([good, bad])
            assert await store.latest_sequence(session.id) == 1
            assert len(await store.get_events(session.id)) == 1
        assert (await store.append_event(good)).sequence_number == 2

    # -- delete -------------------------------------------------------------------------------
    async def test_delete_session_cascades(self, store: SessionStore) -> None:
        session, run = await self._running(store)
        keep, kept_run = await self._running(store)
        await store.delete_session(session.id)
        with pytest.raises(SessionNotFound):
            await store.get_session(session.id)
        with pytest.raises(RunNotFound):
            await store.get_run(run.id)
        assert await store.list_runs(session.id) == []
        assert await store.get_events(session.id) == []
        assert await store.latest_sequence(session.id) == 0
        assert session.id not in {s.id for s in await store.list_sessions()}
        with pytest.raises(ValidationError):
            await store.append_event(self.event(session.id))
        # The other session is untouched; deleting twice or an unknown id is a no-op.
        await self._assert_unchanged(store, keep, kept_run)
        await store.delete_session(session.id)
        await store.delete_session("ses_does_not_exist")
        await self._assert_unchanged(store, keep, kept_run)

    # -- deleting runs and events --------------------------------------------------------------
    async def test_delete_events_keeps_numbers_and_gaps(self, store: SessionStore) -> None:
        session = await self.new_session(store)
        other = await self.new_session(store)
        stored = await store.append_events([self.event(session.id, i) for i in range(6)])
        theirs = await store.append_event(self.event(other.id, 9))
        doomed = [stored[1].id, stored[2].id, stored[5].id, theirs.id, "evt_unknown"]
        assert await store.delete_events(session.id, doomed) == 3
        assert self.numbers(await store.get_events(session.id)) == [1, 4, 5]
        assert await store.latest_sequence(session.id) == 6
        assert await store.get_events(other.id) == [theirs]
        # Reads across the gap, by cursor, bound, limit and filter.
        assert self.numbers(await store.get_events(session.id, after=1)) == [4, 5]
        assert self.numbers(await store.get_events(session.id, after=2, limit=1)) == [4]
        assert self.numbers(await store.get_events(session.id, before=4)) == [1]
        assert self.numbers(await store.get_events(session.id, after=1, before=5)) == [4]
        assert await store.get_events(session.id, after=5) == []
        assert self.numbers(await store.get_events(session.id, types=[_CUSTOM_TYPE])) == [1, 4, 5]
        # Numbering continues after the deleted 6, never reusing it.
        more = await store.append_events([self.event(session.id, 7), self.event(session.id, 8)])
        assert self.numbers(more) == [7, 8]
        assert self.numbers(await store.get_events(session.id, after=5)) == [7, 8]
        # Deleting again, or nothing, deletes nothing.
        assert await store.delete_events(session.id, doomed) == 0
        assert await store.delete_events(session.id, []) == 0
        assert await store.delete_events("ses_does_not_exist", [stored[0].id]) == 0
        assert self.numbers(await store.get_events(session.id)) == [1, 4, 5, 7, 8]

    async def test_delete_everything_then_append_continues(self, store: SessionStore) -> None:
        session = await self.new_session(store)
        stored = await store.append_events([self.event(session.id, i) for i in range(3)])
        assert await store.delete_events(session.id, [e.id for e in stored]) == 3
        assert await store.get_events(session.id) == []
        assert await store.latest_sequence(session.id) == 3
        assert (await store.append_event(self.event(session.id))).sequence_number == 4
        # A deleted id may be appended again: it is a new event with a new number.
        again = await store.append_event(stored[0])
        assert again.sequence_number == 5
        assert self.numbers(await store.get_events(session.id)) == [4, 5]

    async def test_wait_reads_past_deleted_events(self, store: SessionStore) -> None:
        session = await self.new_session(store)
        stored = await store.append_events([self.event(session.id, i) for i in range(3)])
        await store.delete_events(session.id, [stored[2].id])
        # Nothing past 2 any more: a wait after 2 times out, then is woken by the next append.
        assert await store.wait_for_events(session.id, after=2, timeout=0.05) == []
        waiter = asyncio.create_task(
            store.wait_for_events(session.id, after=2, timeout=HANG_GUARD_S)
        )
        await asyncio.sleep(0.05)
        assert not waiter.done()
        fresh = await store.append_event(self.event(session.id, 3))
        assert fresh.sequence_number == 4
        assert await asyncio.wait_for(waiter, HANG_GUARD_S * 2) == [fresh]
        got = await store.wait_for_events(session.id, after=1, timeout=HANG_GUARD_S)
        assert self.numbers(got) == [2, 4]

    async def test_delete_runs_cascades_to_their_events(self, store: SessionStore) -> None:
        session = await self.new_session(store, status=SessionStatus.ACTIVE)
        other = await self.new_session(store, status=SessionStatus.ACTIVE)
        old, kept = Run(session_id=session.id), Run(session_id=session.id)
        foreign = Run(session_id=other.id)
        for run in (old, kept, foreign):
            await store.save_run(run)
        await store.append_events(
            [
                self.event(session.id, 0),
                self.event(session.id, 1, run_id=old.id),
                self.event(session.id, 2, run_id=kept.id),
                self.event(session.id, 3, run_id=old.id),
                self.event(session.id, 4),
            ]
        )
        await store.append_event(self.event(other.id, 5, run_id=foreign.id))
        assert await store.delete_runs([old.id, "run_unknown", old.id]) == 1
        with pytest.raises(RunNotFound):
            await store.get_run(old.id)
        assert [r.id for r in await store.list_runs(session.id)] == [kept.id]
        assert await store.get_events(session.id, run_id=old.id) == []
        assert self.numbers(await store.get_events(session.id)) == [1, 3, 5]
        assert await store.latest_sequence(session.id) == 5
        assert (await store.append_event(self.event(session.id, 6))).sequence_number == 6
        assert await store.get_run(foreign.id) == foreign
        assert self.numbers(await store.get_events(other.id)) == [1]
        assert await store.delete_runs([old.id]) == 0
        assert await store.delete_runs([]) == 0
        assert await store.delete_runs([kept.id, foreign.id]) == 2
        assert await store.list_runs(other.id) == []
        assert await store.get_events(other.id) == []
        assert self.numbers(await store.get_events(session.id)) == [1, 5, 6]

    # -- storage statistics (optional: ReportsStorage) -------------------------------------------
    async def test_storage_stats_count_what_is_stored(self, store: SessionStore) -> None:
        if not isinstance(store, ReportsStorage):
            pytest.skip(f"{type(store).__name__} does not report storage (ReportsStorage)")
        empty = await store.storage_stats()
        assert (empty.sessions, empty.runs, empty.events) == (0, 0, 0)
        assert empty.bytes_per_event is None
        session = await self.new_session(store, status=SessionStatus.ACTIVE)
        other = await self.new_session(store)
        run = Run(session_id=session.id)
        await store.save_run(run)
        await store.append_events([self.event(session.id, i, run_id=run.id) for i in range(30)])
        # 200,000 random hex digits: no backend compresses them below 100,000 bytes.
        await store.append_event(self.event(other.id, data={"blob": secrets.token_hex(100_000)}))
        full = await store.storage_stats()
        assert (full.sessions, full.runs, full.events) == (2, 1, 31)
        if full.stored_bytes is not None:
            assert full.stored_bytes > 100_000
            assert full.bytes_per_event == full.stored_bytes / 31
        assert await store.delete_runs([run.id]) == 1
        await store.delete_session(other.id)
        left = await store.storage_stats()
        assert (left.sessions, left.runs, left.events) == (1, 0, 0)

    async def test_bad_deletions_are_rejected(self, store: SessionStore) -> None:
        session, run = await self._running(store)
        event = (await store.get_events(session.id))[0]
        # A bare string is not a collection of ids; every id must be a non-empty string.
        for bad in ([], [3], [None], [""], [b"bytes"]):
            run_ids: Any = run.id if not bad else [run.id, *bad]
            event_ids: Any = event.id if not bad else [event.id, *bad]
            with pytest.raises(ValidationError):
                await store.delete_runs(run_ids)
            with pytest.raises(ValidationError):
                await store.delete_events(session.id, event_ids)
        for session_id in (None, 7, ""):
            with pytest.raises(ValidationError):
                await store.delete_events(session_id, [event.id])  # type: ignore[arg-type]
        await self._assert_unchanged(store, session, run)

    # -- fidelity -------------------------------------------------------------------------------
    async def test_custom_types_and_unknown_keys_round_trip(self, store: SessionStore) -> None:
        session = await self.new_session(store)
        custom = Event(
            type="acme.deploy/finished:v2",
            session_id=session.id,
            run_id="run_custom",
            provider="acme",
            data={"nested": {"list": [1, 2.5, None, True, "x"], "deep": {"k": []}}, "n": -3},
            metadata={"trace_id": "abc", "weights": [0.1, 0.2]},
            schema_version=7,
        )
        canonical = Event(
            type=EventType.MESSAGE_RECEIVED,
            session_id=session.id,
            data={"role": "assistant", "content": "hi", "future_key": {"x": 1}},
        )
        stored = await store.append_events([custom, canonical])
        fetched = await store.get_events(session.id)
        assert fetched == stored
        for original, back in zip((custom, canonical), fetched, strict=True):
            assert back.with_sequence(0) == original.with_sequence(0)
            assert back.type == original.type
            assert back.data == original.data
            assert back.metadata == original.metadata
            assert back.provider == original.provider
            assert back.schema_version == original.schema_version

    async def test_unicode_and_large_payloads_round_trip(self, store: SessionStore) -> None:
        session = await self.new_session(store)
        text = "héllo wörld — 日本語 — עברית — 🚀🧪 — \u0000 — \u2028 — 'quotes' \"and\" \\"
        big = "x" * 1_000_000
        events = [
            self.event(session.id, data={"text": text, text: text}),
            self.event(session.id, data={"big": big}, metadata={"size": len(big)}),
        ]
        await store.append_events(events)
        fetched = await store.get_events(session.id)
        assert [e.data for e in fetched] == [e.data for e in events]
        assert fetched[1].metadata == {"size": 1_000_000}

    # -- sessions -------------------------------------------------------------------------------
    async def test_save_and_get_session_round_trip(self, store: SessionStore) -> None:
        session = await self.new_session(
            store,
            context={"system_prompt": "be brief", "deep": {"a": [1, 2]}},
            metadata={"owner": "ünïcode"},
            tags=("red", "blue"),
            provider="claude",
        )
        assert await store.get_session(session.id) == session
        changed = session.transition(SessionStatus.ACTIVE)
        await store.save_session(changed)
        assert await store.get_session(session.id) == changed
        assert [s.id for s in await store.list_sessions()] == [session.id]

    async def test_unknown_ids_raise_not_found(self, store: SessionStore) -> None:
        with pytest.raises(SessionNotFound):
            await store.get_session("ses_does_not_exist")
        with pytest.raises(RunNotFound):
            await store.get_run("run_does_not_exist")

    async def test_list_sessions_filters(self, store: SessionStore) -> None:
        a = await self.new_session(store, agent_id="alpha", tags=("x", "y"))
        b = await self.new_session(
            store, agent_id="alpha", tags=("y",), status=SessionStatus.ACTIVE
        )
        c = await self.new_session(store, agent_id="beta", tags=("x", "y", "z"))
        d = await self.new_session(store, agent_id="beta", status=SessionStatus.ACTIVE)

        async def ids(**query: Any) -> list[str]:
            return [s.id for s in await store.list_sessions(**query)]

        assert await ids() == [d.id, c.id, b.id, a.id]
        assert await ids(agent_id="alpha") == [b.id, a.id]
        assert await ids(status=SessionStatus.ACTIVE) == [d.id, b.id]
        assert await ids(status=SessionStatus.ACTIVE, agent_id="beta") == [d.id]
        assert await ids(tags=["x"]) == [c.id, a.id]
        assert await ids(tags=["x", "y"]) == [c.id, a.id]
        assert await ids(tags=["y", "z"]) == [c.id]
        assert await ids(tags=["nope"]) == []
        assert await ids(tags=["y"], agent_id="alpha", status=SessionStatus.PENDING) == [a.id]
        assert await ids(agent_id="nobody") == []
        assert await ids(limit=2) == [d.id, c.id]

    async def test_list_sessions_created_range(self, store: SessionStore) -> None:
        days = [_BASE_TIME + timedelta(days=i) for i in range(4)]
        made = [await self.new_session(store, created_at=t, updated_at=t) for t in days]

        async def ids(**query: Any) -> set[str]:
            return {s.id for s in await store.list_sessions(**query)}

        assert await ids(created_after=days[1]) == {s.id for s in made[1:]}  # inclusive
        assert await ids(created_before=days[3]) == {s.id for s in made[:3]}  # exclusive
        assert await ids(created_after=days[1], created_before=days[3]) == {
            made[1].id,
            made[2].id,
        }
        assert await ids(created_after=days[3] + timedelta(seconds=1)) == set()

    async def test_list_sessions_paginates_newest_first(self, store: SessionStore) -> None:
        made = [await self.new_session(store, agent_id=f"agent-{i % 2}") for i in range(23)]
        newest_first = [s.id for s in reversed(made)]
        pages: list[list[str]] = []
        cursor: str | None = None
        while True:
            page = await store.list_sessions(limit=5, cursor=cursor)
            if not page:
                break
            pages.append([s.id for s in page])
            cursor = page[-1].id
        assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
        assert [sid for page in pages for sid in page] == newest_first
        # Pagination composes with filters.
        filtered: list[str] = []
        cursor = None
        while page := await store.list_sessions(agent_id="agent-1", limit=4, cursor=cursor):
            filtered.extend(s.id for s in page)
            cursor = page[-1].id
        assert filtered == [s.id for s in reversed(made) if s.agent_id == "agent-1"]

    # -- runs -----------------------------------------------------------------------------------
    async def test_save_get_and_list_runs(self, store: SessionStore) -> None:
        session = await self.new_session(store)
        other = await self.new_session(store)
        first = Run(session_id=session.id, input={"prompt": "one"})
        second = Run(session_id=session.id, input={"prompt": "two"}).transition(RunStatus.RUNNING)
        third = Run(session_id=session.id).transition(RunStatus.CANCELLED)
        elsewhere = Run(session_id=other.id)
        for run in (first, second, third, elsewhere):
            await store.save_run(run)
        assert await store.get_run(second.id) == second
        assert await store.list_runs(session.id) == [first, second, third]
        assert await store.list_runs(session.id, limit=2) == [first, second]
        assert await store.list_runs(session.id, status=RunStatus.CANCELLED) == [third]
        assert await store.list_runs(session.id, status=RunStatus.TIMED_OUT) == []
        assert await store.list_runs("ses_does_not_exist") == []
        started = first.transition(RunStatus.RUNNING)
        await store.save_run(started)
        assert await store.get_run(first.id) == started
        assert [r.id for r in await store.list_runs(session.id)] == [first.id, second.id, third.id]

    async def test_save_run_of_unknown_session_is_rejected(self, store: SessionStore) -> None:
        stray = Run(session_id="ses_does_not_exist")
        with pytest.raises(ValidationError):
            await store.save_run(stray)
        with pytest.raises(RunNotFound):
            await store.get_run(stray.id)

    # -- rejected input ---------------------------------------------------------------------------
    async def test_append_to_unknown_session_is_rejected(self, store: SessionStore) -> None:
        with pytest.raises(ValidationError):
            await store.append_event(self.event("ses_does_not_exist"))
        with pytest.raises(ValidationError):
            await store.append_events([self.event("ses_does_not_exist")])
        assert await store.latest_sequence("ses_does_not_exist") == 0
        assert await store.get_events("ses_does_not_exist") == []

    async def test_non_json_event_data_is_rejected(self, store: SessionStore) -> None:
        session = await self.new_session(store)
        bad_events = [
            self.event(session.id, data={"a_set": {1, 2}}),
            self.event(session.id, data={"an_object": object()}),
            self.event(session.id, data={"nested": [{"bytes": b"raw"}]}),
            self.event(session.id, data={1: "non-string key"}),
            self.event(session.id, metadata={"when": datetime.now(UTC)}),
        ]
        for bad in bad_events:
            with pytest.raises(ValidationError):
                await store.append_event(bad)
            with pytest.raises(ValidationError):
                await store.append_events([self.event(session.id), bad])
        assert await store.latest_sequence(session.id) == 0
        assert await store.get_events(session.id) == []
        with pytest.raises(ValidationError):
            await store.append_event("not an event")  # type: ignore[arg-type]

    async def test_non_json_session_data_is_rejected(self, store: SessionStore) -> None:
        for fields in ({"metadata": {"a_set": {1, 2}}}, {"context": {"obj": object()}}):
            session = Session(agent_id="conformance-agent", **fields)
            with pytest.raises(ValidationError):
                await store.save_session(session)
            with pytest.raises(SessionNotFound):
                await store.get_session(session.id)
        assert await store.list_sessions() == []

    async def test_bad_limits_are_rejected(self, store: SessionStore) -> None:
        session = await self.new_session(store)
        await store.append_event(self.event(session.id))
        for limit in (0, -1):
            with pytest.raises(ValidationError):
                await store.get_events(session.id, limit=limit)
            with pytest.raises(ValidationError):
                await store.list_sessions(limit=limit)
            with pytest.raises(ValidationError):
                await store.list_runs(session.id, limit=limit)
            with pytest.raises(ValidationError):
                await store.wait_for_events(session.id, after=0, timeout=1, limit=limit)

    async def test_bad_cursors_types_and_timeouts_are_rejected(self, store: SessionStore) -> None:
        session = await self.new_session(store)
        await store.append_event(self.event(session.id))
        with pytest.raises(ValidationError):
            await store.get_events(session.id, after=-1)
        with pytest.raises(ValidationError):
            await store.get_events(session.id, before=-1)
        for types in (["not a valid type!"], [""], [123]):
            with pytest.raises(ValidationError):
                await store.get_events(session.id, types=types)  # type: ignore[arg-type]
            with pytest.raises(ValidationError):
                await store.wait_for_events(session.id, after=0, timeout=1, types=types)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            await store.wait_for_events(session.id, after=0, timeout=-1)
        with pytest.raises(ValidationError):
            await store.append_event(self.event(session.id, type="bad type!"))
        assert await store.latest_sequence(session.id) == 1

    # -- failures inside the transaction ----------------------------------------------------------
    async def test_flush_failing_after_the_event_insert_writes_nothing(
        self, store: SessionStore
    ) -> None:
        session, run = await self._running(store)
        done = run.transition(RunStatus.COMPLETED)
        ended = session.transition(SessionStatus.COMPLETED)
        fresh = Session(agent_id="conformance-agent")
        with self.fail_after_events_written(store):
            with pytest.raises(InjectedFailure):
                await store.flush(
                    run=done, session=ended, events=[self.event(session.id, 1, run_id=run.id)]
                )
            with pytest.raises(InjectedFailure):
                await store.append_events([self.event(session.id, 2), self.event(session.id, 3)])
            with pytest.raises(InjectedFailure):
                await store.append_event(self.event(session.id, 4))
            with pytest.raises(InjectedFailure):
                await store.flush(session=fresh, events=[self.event(fresh.id, 5)])
        await self._assert_unchanged(store, session, run)
        with pytest.raises(SessionNotFound):
            await store.get_session(fresh.id)
        assert await store.latest_sequence(fresh.id) == 0
        # The store carries on, and the numbers the failed writes had taken are reused.
        assert (await store.append_event(self.event(session.id, 6))).sequence_number == 2
        assert self.numbers(await store.get_events(session.id)) == [1, 2]

    # -- several processes ------------------------------------------------------------------------
    async def test_gap_free_with_100_tasks_and_4_processes(
        self, store: SessionStore, store_url: str | None
    ) -> None:
        url = self.require_url(store_url)
        session = await self.new_session(store)
        writers = [
            await _start_child("appender", self.store_opener, url, session.id) for _ in range(4)
        ]
        try:
            for process in writers:
                assert await _line(process) == "ready"
            for process in writers:  # start together, so the processes really interleave
                assert process.stdin is not None
                process.stdin.write(b"go\n")
                await process.stdin.drain()

            async def task(k: int) -> list[Event]:
                one = await store.append_event(self.event(session.id, k))
                two = await store.append_events([self.event(session.id, k), self.event(session.id)])
                return [one, *two]

            mine = [
                e for batch in await asyncio.gather(*(task(k) for k in range(100))) for e in batch
            ]
            theirs: dict[str, int] = {}
            for process in writers:
                out, err = await asyncio.wait_for(process.communicate(), HANG_GUARD_S * 3)
                assert process.returncode == 0, err.decode()
                for line in out.decode().split():
                    event_id, number = line.split(":")
                    theirs[event_id] = int(number)
        finally:
            for process in writers:
                _kill(process)
        assert len(theirs) == 4 * PROCESS_APPENDS
        total = len(mine) + len(theirs)
        log = await store.get_events(session.id)
        assert self.numbers(log) == list(range(1, total + 1))
        assert await store.latest_sequence(session.id) == total
        by_id = {e.id: e.sequence_number for e in log}
        assert all(by_id[e.id] == e.sequence_number for e in mine)
        assert all(by_id[event_id] == number for event_id, number in theirs.items())

    async def test_wait_is_woken_by_an_append_from_another_process(
        self, store: SessionStore, store_url: str | None
    ) -> None:
        url = self.require_url(store_url)
        session = await self.new_session(store)
        waiter = asyncio.create_task(
            store.wait_for_events(
                session.id, after=0, timeout=HANG_GUARD_S, types=["other.process"]
            )
        )
        await asyncio.sleep(0.05)
        assert not waiter.done()
        process = await _start_child(
            "appender", self.store_opener, url, session.id, "1", "other.process"
        )
        try:
            assert await _line(process) == "ready"
            assert process.stdin is not None
            process.stdin.write(b"go\n")
            await process.stdin.drain()
            out, err = await asyncio.wait_for(process.communicate(), HANG_GUARD_S)
            assert process.returncode == 0, err.decode()
        finally:
            _kill(process)
        got = await asyncio.wait_for(waiter, HANG_GUARD_S * 2)
        # A timed-out wait returns []; events mean the other process's commit woke us.
        assert [e.type for e in got] == ["other.process"]
        assert [f"{e.id}:{e.sequence_number}" for e in got] == out.decode().split()

    async def test_finalizers_in_two_processes_exactly_one_wins_each_run(
        self, store: SessionStore, store_url: str | None
    ) -> None:
        url = self.require_url(store_url)
        session = await self.new_session(store, status=SessionStatus.ACTIVE)
        runs = [Run(session_id=session.id).transition(RunStatus.RUNNING) for _ in range(30)]
        for run in runs:
            await store.save_run(run)
        process = await _start_child(
            "finalizer", self.store_opener, url, session.id, *(r.id for r in runs)
        )
        try:
            assert await _line(process) == "ready"
            assert process.stdin is not None
            process.stdin.write(b"go\n")
            await process.stdin.drain()
            mine: dict[str, bool] = {}
            for run in runs:  # race the child, run by run
                try:
                    await store.flush(
                        run=run.transition(RunStatus.COMPLETED),
                        events=[self.terminal(run, RunStatus.COMPLETED)],
                        run_from=RunStatus.RUNNING,
                    )
                    mine[run.id] = True
                except ConcurrencyError:
                    mine[run.id] = False
            out, err = await asyncio.wait_for(process.communicate(), HANG_GUARD_S)
            assert process.returncode == 0, err.decode()
        finally:
            _kill(process)
        theirs = dict(line.split(":") for line in out.decode().split())
        for run in runs:
            assert mine[run.id] != (theirs[run.id] == "won"), run.id  # exactly one won
            expected = RunStatus.COMPLETED if mine[run.id] else RunStatus.CANCELLED
            assert (await store.get_run(run.id)).status is expected
            terminal = await self.terminal_events(store, run)
            assert [e.type for e in terminal] == [self.terminal(run, expected).type]

    async def test_a_run_ended_in_one_process_closes_its_log_in_another(
        self, store: SessionStore, store_url: str | None
    ) -> None:
        url = self.require_url(store_url)
        session = await self.new_session(store, status=SessionStatus.ACTIVE)
        run = Run(session_id=session.id).transition(RunStatus.RUNNING)
        await store.save_run(run)
        process = await _start_child("run_appender", self.store_opener, url, session.id, run.id)
        try:
            assert await _line(process) == "ready"
            assert process.stdin is not None
            process.stdin.write(b"go\n")
            await process.stdin.drain()
            await asyncio.sleep(0.2)  # the other process is appending events of the run
            await store.flush(
                run=run.transition(RunStatus.CANCELLED),
                events=[self.terminal(run, RunStatus.CANCELLED)],
                run_from=RunStatus.RUNNING,
            )
            out, err = await asyncio.wait_for(process.communicate(), HANG_GUARD_S)
            assert process.returncode == 0, err.decode()
        finally:
            _kill(process)
        events = await store.get_events(session.id, run_id=run.id)
        assert int(out.decode()) == len(events) - 1 > 0
        assert events[-1].type == "run_cancelled"

    @pytest.mark.slow
    async def test_sigkill_of_a_writer_loses_no_acknowledged_event(
        self, store: SessionStore, store_url: str | None
    ) -> None:
        url = self.require_url(store_url)
        session = await self.new_session(store)
        # From here on every check opens a new store from the URL, as after a crash.
        open_store = _import(self.store_opener)
        seed = random.randrange(1 << 30)
        rng = random.Random(seed)
        acknowledged: dict[str, int] = {}
        for kill in range(CRASH_KILLS):
            process = await _start_child("crash_writer", self.store_opener, url, session.id)
            try:
                assert await _line(process) == "ready"
                await asyncio.sleep(rng.uniform(0.0, 0.15))  # a random moment, mid-write or not
            finally:
                _kill(process)  # SIGKILL: no cleanup, no rollback by the process itself
            assert process.stdout is not None
            out = await asyncio.wait_for(process.stdout.read(), HANG_GUARD_S)
            await process.wait()
            for line in out.decode().splitlines(keepends=True):
                if line.endswith("\n"):  # a line cut by the kill acknowledged nothing
                    for pair in line.split():
                        event_id, number = pair.split(":")
                        acknowledged[event_id] = int(number)
            async with await open_store(url) as reopened:
                latest, log = await _settled_log(reopened, session.id)
            where = f"after kill {kill + 1} (seed {seed})"
            assert self.numbers(log) == list(range(1, latest + 1)), where
            batches: dict[str, list[Event]] = {}
            for event in log:
                batches.setdefault(event.data["batch"], []).append(event)
            for batch in batches.values():  # no torn batch: all of it or none
                assert len(batch) == batch[0].data["size"], where
                assert [e.data["i"] for e in batch] == list(range(len(batch))), where
            stored = {e.id: e.sequence_number for e in log}
            lost = {i: n for i, n in acknowledged.items() if stored.get(i) != n}
            assert not lost, f"acknowledged events missing or renumbered {where}: {lost}"
        assert acknowledged, "the writer never acknowledged an append"


async def _settled_log(store: SessionStore, session_id: str) -> tuple[int, list[Event]]:
    """The session's latest sequence and log, read while no commit lands in between.

    A killed client's last COMMIT may still be carried out by a database server after the
    client died (PostgreSQL finishes a COMMIT it has received), so the two reads are repeated
    until the latest number is the same before and after the log is read.
    """
    deadline = time.monotonic() + HANG_GUARD_S
    while True:
        latest = await store.latest_sequence(session_id)
        log = await store.get_events(session_id)
        if await store.latest_sequence(session_id) == latest or time.monotonic() > deadline:
            return latest, log
        await asyncio.sleep(0.05)


class InjectedFailure(Exception):
    """Raised by a :meth:`SessionStoreConformance.fail_after_events_written` hook."""


async def _start_child(program: str, *args: str) -> asyncio.subprocess.Process:
    """Start one of the child programs of ``testing._store_children`` in its own process."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agent_session_manager.testing._store_children",
        program,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _line(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), HANG_GUARD_S)
    if not line:
        assert process.stderr is not None
        err = await asyncio.wait_for(process.stderr.read(), HANG_GUARD_S)
        raise AssertionError(f"the process ended early: {err.decode()[-2000:]}")
    return line.decode().strip()


def _kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGKILL)


def _import(target: str) -> Any:
    """``"module:function"`` → the function."""
    import importlib

    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)
