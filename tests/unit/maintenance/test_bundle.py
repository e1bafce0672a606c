"""Session bundles: export then import keeps every record identical; bad or partial bundles
are refused with nothing written; an existing session is only replaced when asked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest

from agent_session_manager import (
    CompositeStore,
    Event,
    FilesystemArtifactStore,
    InMemorySessionStore,
    SessionNotFound,
    SessionStore,
    StorageError,
    ValidationError,
    export_session,
    import_session,
)
from agent_session_manager.maintenance import BUNDLE_FORMAT, export_session_text
from tests.support.maintenance_data import add_session


async def snapshot(store: SessionStore, session_id: str) -> tuple[object, ...]:
    session = await store.get_session(session_id)
    runs = await store.list_runs(session_id)
    events = await store.get_events(session_id)
    return (
        session.to_dict(),
        [run.to_dict() for run in runs],
        [event.to_dict() for event in events],
        await store.latest_sequence(session_id),
    )


async def test_round_trip_keeps_everything_identical() -> None:
    source, target = InMemorySessionStore(), InMemorySessionStore()
    session = await add_session(source, runs=3, metadata={"ticket": "ASM-1", "ü": [1, None]})
    text = await export_session_text(source, session.id)
    result = await import_session(target, text)
    assert (result.session_id, result.runs, result.events, result.replaced) == (
        session.id,
        3,
        1 + 3 * 8,
        False,
    )
    assert await snapshot(target, session.id) == await snapshot(source, session.id)
    events = await target.get_events(session.id)
    assert [e.sequence_number for e in events] == list(range(1, len(events) + 1))
    # The event objects themselves compare equal (timestamps with microseconds, data, types).
    assert events == await source.get_events(session.id)


async def test_bundle_layout() -> None:
    store = InMemorySessionStore()
    session = await add_session(store, runs=1)
    lines = [orjson.loads(line) async for line in export_session(store, session.id)]
    assert lines[0]["format"] == BUNDLE_FORMAT
    assert lines[0]["version"] == 1
    assert lines[0]["session_id"] == session.id
    assert [line.get("kind") for line in lines[1:]] == [
        "session",
        "run",
        *["event"] * 9,
        "end",
    ]
    assert lines[-1] == {"kind": "end", "runs": 1, "events": 9, "artifacts": 0}


async def test_export_of_unknown_session_raises() -> None:
    with pytest.raises(SessionNotFound):
        await export_session_text(InMemorySessionStore(), "ses_missing")


async def test_existing_session_is_refused_unless_replace() -> None:
    store = InMemorySessionStore()
    session = await add_session(store, runs=2)
    text = await export_session_text(store, session.id)
    before = await snapshot(store, session.id)
    with pytest.raises(ValidationError) as caught:
        await import_session(store, text)
    assert caught.value.code == "already_exists"
    assert await snapshot(store, session.id) == before

    # Change the stored copy, then replace it with the bundle: the bundle's version wins.
    await store.append_event(Event(type="session_completed", session_id=session.id))
    result = await import_session(store, text, replace=True)
    assert result.replaced
    assert await snapshot(store, session.id) == before


def _lines(text: str) -> list[str]:
    return text.rstrip("\n").split("\n")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda ls: ls[:-1], "truncated"),
        (lambda ls: ls[1:], "not a session bundle"),
        (lambda ls: [], "empty"),
        (lambda ls: [ls[0].replace('"version":1', '"version":99'), *ls[1:]], "version"),
        (lambda ls: [*ls[:3], "{not json", *ls[3:]], "not JSON"),
        (lambda ls: [*ls[:3], *ls[4:]], "the end line counts"),
        (lambda ls: [ls[0], *ls[2:]], "no session record"),
        (lambda ls: [*ls, ls[-1]], "after the end line"),
        (lambda ls: [*ls[:2], '{"kind": "mystery"}', *ls[2:]], "unknown record kind"),
    ],
)
async def test_bad_bundles_write_nothing(mutate: object, message: str) -> None:
    source, target = InMemorySessionStore(), InMemorySessionStore()
    session = await add_session(source)
    lines = mutate(_lines(await export_session_text(source, session.id)))  # type: ignore[operator]
    with pytest.raises(ValidationError) as caught:
        await import_session(target, lines)
    assert message in caught.value.message
    assert await target.list_sessions() == []


async def test_events_of_another_session_are_refused() -> None:
    source = InMemorySessionStore()
    one = await add_session(source)
    two = await add_session(source)
    lines_one = _lines(await export_session_text(source, one.id))
    lines_two = _lines(await export_session_text(source, two.id))
    mixed = [*lines_one[:-2], lines_two[-2], lines_one[-1]]
    target = InMemorySessionStore()
    with pytest.raises(ValidationError, match="belongs to session"):
        await import_session(target, mixed)
    assert await target.list_sessions() == []


async def test_a_log_with_gaps_is_refused() -> None:
    source = InMemorySessionStore()
    session = await add_session(source)
    lines = _lines(await export_session_text(source, session.id))
    # Drop one event and fix the end count: sequence numbers now jump.
    end = orjson.loads(lines[-1])
    end["events"] -= 1
    gapped = [*lines[:4], *lines[5:-1], orjson.dumps(end).decode()]
    with pytest.raises(ValidationError, match="gap-free"):
        await import_session(InMemorySessionStore(), gapped)


class FailingStore(InMemorySessionStore):
    """Fails on the second batch of events (as a full disk would)."""

    def __init__(self) -> None:
        super().__init__()
        self.batches = 0

    async def append_events(self, events: Sequence[Event]) -> list[Event]:
        self.batches += 1
        if self.batches == 2:
            raise StorageError("disk full")
        return await super().append_events(events)


async def test_failure_half_way_removes_the_partial_import(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("agent_session_manager.maintenance.bundle.IMPORT_BATCH", 5)
    source = InMemorySessionStore()
    session = await add_session(source, runs=2)
    target = FailingStore()
    with pytest.raises(StorageError):
        await import_session(target, await export_session_text(source, session.id))
    assert await target.list_sessions() == []
    assert await target.get_events(session.id) == []


async def test_artifacts_travel_with_the_session(tmp_path: Path) -> None:
    source = CompositeStore(InMemorySessionStore(), FilesystemArtifactStore(tmp_path / "a"))
    target = CompositeStore(InMemorySessionStore(), FilesystemArtifactStore(tmp_path / "b"))
    session = await add_session(source)
    await source.put_session_artifact(session.id, "diff.patch", b"\x00binary\xff")
    text = await export_session_text(source, session.id, include_artifacts=True)
    result = await import_session(target, text)
    assert result.artifacts == 1
    assert await target.get(f"sessions/{session.id}/diff.patch") == b"\x00binary\xff"
    with pytest.raises(ValidationError, match="artifact"):
        await import_session(InMemorySessionStore(), text)


async def test_a_run_id_owned_by_another_session_is_refused() -> None:
    source = InMemorySessionStore()
    session = await add_session(source, runs=1)
    text = await export_session_text(source, session.id)
    target = InMemorySessionStore()
    (run,) = await source.list_runs(session.id)
    other = await add_session(target, runs=0)
    await target.save_run(run.model_copy(update={"session_id": other.id}))
    with pytest.raises(ValidationError) as caught:
        await import_session(target, text)
    assert caught.value.code == "already_exists"
    assert [s.id for s in await target.list_sessions()] == [other.id]
    assert (await target.get_run(run.id)).session_id == other.id


async def test_unicode_line_separators_inside_strings_survive() -> None:
    # Regression: the bundle text was split with str.splitlines(), which also breaks lines at
    # U+0085, U+2028 and U+2029 that JSON leaves unescaped inside strings.
    source, target = InMemorySessionStore(), InMemorySessionStore()
    session = await add_session(source, metadata={"text": "a\x85b\u2028c\u2029d\x1ce"})
    await import_session(target, await export_session_text(source, session.id))
    assert (await target.get_session(session.id)).metadata["text"] == "a\x85b\u2028c\u2029d\x1ce"
