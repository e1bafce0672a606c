"""Retention: the dry-run report is exact, applying it deletes exactly what it listed (and
nothing else), exempt and unfinished sessions are kept, and deletes cascade to artifacts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from agent_session_manager import (
    CompositeStore,
    FilesystemArtifactStore,
    InMemorySessionStore,
    RetentionPolicy,
    Run,
    RunStatus,
    SessionNotFound,
    SessionStatus,
    SessionStore,
    ValidationError,
    apply_retention,
    plan_retention,
)
from agent_session_manager.maintenance import clean_orphaned_artifacts
from tests.support.maintenance_data import T0, UnprunableStore, add_session


async def all_state(store: SessionStore) -> list[tuple[object, ...]]:
    state = []
    for session in await store.list_sessions(limit=1000):
        runs = await store.list_runs(session.id)
        events = await store.get_events(session.id)
        state.append((session.id, [r.id for r in runs], [e.id for e in events]))
    return state


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ttl_days": 0},
        {"ttl_days": -1},
        {"ttl_days": float("inf")},
        {"keep_last_runs": -1},
        {"max_events_per_session": 0},
        {"keep_last_runs": True},
    ],
)
def test_bad_policies_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RetentionPolicy(**kwargs)  # type: ignore[arg-type]


async def test_ttl_dry_run_is_exact_and_writes_nothing() -> None:
    store = InMemorySessionStore()
    old_done = await add_session(store, age_days=40, runs=2)
    old_failed = await add_session(store, age_days=31, status=SessionStatus.FAILED, runs=0)
    await add_session(store, age_days=40, status=SessionStatus.ACTIVE)  # unfinished: kept
    await add_session(store, age_days=40, tags=("pinned",))  # exempt: kept
    await add_session(store, age_days=29)  # too young: kept
    before = await all_state(store)

    report = await plan_retention(store, RetentionPolicy(ttl_days=30), now=T0)

    assert report.dry_run
    assert [s.session_id for s in report.sessions] == [old_failed.id, old_done.id]
    by_id = {s.session_id: s for s in report.sessions}
    assert (by_id[old_done.id].runs, by_id[old_done.id].events) == (2, 1 + 2 * 8)
    assert (by_id[old_failed.id].runs, by_id[old_failed.id].events) == (0, 1)
    assert report.totals()["sessions"] == 2
    assert report.totals()["runs"] == 2
    assert report.totals()["events"] == 1 + 2 * 8 + 1
    assert report.bytes_estimate > 0
    assert report.runs == []
    assert report.events == []
    assert await all_state(store) == before


async def test_ttl_apply_deletes_exactly_the_report() -> None:
    store = InMemorySessionStore()
    for age in (10, 50, 60):
        await add_session(store, age_days=age)
    planned = await plan_retention(store, RetentionPolicy(ttl_days=30), now=T0)
    before = await all_state(store)

    applied = await apply_retention(store, RetentionPolicy(ttl_days=30), now=T0)

    assert not applied.dry_run
    assert applied.sessions == planned.sessions
    assert applied.not_applied == {}
    deleted = {s.session_id for s in planned.sessions}
    assert await all_state(store) == [entry for entry in before if entry[0] not in deleted]
    for session_id in deleted:
        with pytest.raises(SessionNotFound):
            await store.get_session(session_id)
    again = await plan_retention(store, RetentionPolicy(ttl_days=30), now=T0)
    assert again.is_empty


async def test_keep_last_runs_and_max_events_delete_exactly_the_plan() -> None:
    store = InMemorySessionStore()
    session = await add_session(store, runs=4, streamed=3)  # 1 + 4 * 9 = 37 events
    runs = await store.list_runs(session.id)
    policy = RetentionPolicy(keep_last_runs=2, max_events_per_session=12)

    planned = await plan_retention(store, policy, now=T0)

    assert [r.run_id for r in planned.runs] == [runs[0].id, runs[1].id]
    assert [r.events for r in planned.runs] == [9, 9]
    # 19 events remain after the two runs go; 7 must be pruned: the 6 streamed chunks and the
    # 2 usage updates are pruned first (oldest first), so 6 + 1 of the usage updates.
    (pruning,) = planned.events
    events = {e.id: e for e in await store.get_events(session.id)}
    pruned_types = [events[i].type for i in pruning.event_ids]
    assert pruned_types.count("message_streamed") == 6
    assert pruned_types.count("token_usage_updated") == 1
    assert pruning.remaining == 12
    assert planned.totals()["events"] == 18 + 7

    applied = await apply_retention(store, policy, now=T0)
    assert applied.runs == planned.runs
    assert applied.events == planned.events
    assert applied.not_applied == {}
    left = await store.get_events(session.id)
    assert len(left) == 12
    assert [r.id for r in await store.list_runs(session.id)] == [runs[2].id, runs[3].id]
    kept_types = {e.type for e in left}
    assert {"session_created", "run_started", "run_completed"} <= kept_types
    # Sequence numbers of the events that remain are unchanged.
    assert all(events[e.id].sequence_number == e.sequence_number for e in left)


async def test_protected_events_are_never_pruned() -> None:
    store = InMemorySessionStore()
    session = await add_session(store, runs=3, streamed=0)
    report = await plan_retention(store, RetentionPolicy(max_events_per_session=1), now=T0)
    (pruning,) = report.events
    events = {e.id: e for e in await store.get_events(session.id)}
    assert {events[i].type for i in pruning.event_ids} == {
        "token_usage_updated",
        "message_sent",
        "message_received",
        "acme.custom-note",
    }
    assert pruning.remaining == 1 + 3 * 2  # session_created + run_started/run_completed per run


async def test_unfinished_runs_are_kept() -> None:
    store = InMemorySessionStore()
    session = await add_session(store, runs=2)
    await store.save_run(Run(session_id=session.id, status=RunStatus.RUNNING))
    runs = await store.list_runs(session.id)
    # The oldest two are finished, the newest is running: keep_last_runs=0 deletes only the two.
    report = await plan_retention(store, RetentionPolicy(keep_last_runs=0), now=T0)
    assert [r.run_id for r in report.runs] == [runs[0].id, runs[1].id]


async def test_a_store_that_cannot_prune_reports_it_and_keeps_everything() -> None:
    store = UnprunableStore()
    assert not isinstance(store, SessionStore)
    await add_session(store, runs=3)
    before = await all_state(store)
    report = await apply_retention(
        store, RetentionPolicy(keep_last_runs=1, max_events_per_session=5), now=T0
    )
    assert len(report.runs) == 2
    assert set(report.not_applied) == {"runs", "events"}
    assert "SessionStore.delete_runs" in report.not_applied["runs"]
    assert await all_state(store) == before


async def test_ttl_delete_cascades_to_artifacts(tmp_path: Path) -> None:
    store = CompositeStore(InMemorySessionStore(), FilesystemArtifactStore(tmp_path / "art"))
    old = await add_session(store, age_days=100)
    new = await add_session(store, age_days=1)
    for session in (old, new):
        await store.put_session_artifact(session.id, "a.txt", b"a")
        await store.put_session_artifact(session.id, "b/c.txt", b"c")
    await store.put("sessions/ses_gone/x", b"orphan")

    planned = await plan_retention(store, RetentionPolicy(ttl_days=30), now=T0)
    assert [(s.session_id, s.artifacts) for s in planned.sessions] == [(old.id, 2)]
    assert planned.orphaned_artifacts == ["sessions/ses_gone/x"]
    assert planned.totals()["artifacts"] == 3

    await apply_retention(store, RetentionPolicy(ttl_days=30), now=T0)
    assert await store.list() == [
        f"sessions/{new.id}/a.txt",
        f"sessions/{new.id}/b/c.txt",
    ]


async def test_clean_orphaned_artifacts(tmp_path: Path) -> None:
    store = CompositeStore(InMemorySessionStore(), FilesystemArtifactStore(tmp_path / "art"))
    live = await add_session(store)
    await store.put_session_artifact(live.id, "keep", b"1")
    await store.put("sessions/ses_gone/x", b"2")
    await store.put("global/y", b"3")
    assert await clean_orphaned_artifacts(store, dry_run=True) == ["sessions/ses_gone/x"]
    assert len(await store.list()) == 3
    assert await clean_orphaned_artifacts(store) == ["sessions/ses_gone/x"]
    assert await store.list() == ["global/y", f"sessions/{live.id}/keep"]
    with pytest.raises(ValidationError):
        await clean_orphaned_artifacts(InMemorySessionStore())


async def test_report_to_dict_is_json_ready() -> None:
    store = InMemorySessionStore()
    await add_session(store, age_days=100)
    report = await plan_retention(store, RetentionPolicy(ttl_days=1), now=T0 + timedelta(days=1))
    data = report.to_dict()
    assert data["dry_run"] is True
    assert data["totals"]["sessions"] == 1
    assert data["policy"]["ttl_days"] == 1
