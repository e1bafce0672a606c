"""Session search (filters, text, cursor pages) and usage/cost summaries over any store."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agent_session_manager import (
    InMemorySessionStore,
    SessionStatus,
    TokenUsage,
    ValidationError,
    search_sessions,
    usage_summary,
)
from agent_session_manager.maintenance import query as query_module
from tests.support.maintenance_data import T0, add_session


async def test_search_filters_and_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(query_module, "SCAN_PAGE", 3)  # force several store pages per search
    store = InMemorySessionStore()
    made = []
    for index in range(10):
        made.append(
            await add_session(
                store,
                agent="coder" if index % 2 else "reviewer",
                status=SessionStatus.COMPLETED if index % 3 else SessionStatus.FAILED,
                tags=("nightly",) if index < 5 else (),
                age_days=10 - index,
                runs=0,
                metadata={"ticket": f"ASM-{index}"},
            )
        )
    newest_first = [s.id for s in reversed(made)]

    seen: list[str] = []
    cursor = None
    while True:
        page = await search_sessions(store, limit=4, cursor=cursor)
        seen += [s.id for s in page.sessions]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == newest_first

    coder = await search_sessions(store, agent_id="coder")
    assert [s.id for s in coder.sessions] == [
        s for s in newest_first if s in {m.id for m in made[1::2]}
    ]
    failed = await search_sessions(store, status="failed")
    assert {s.id for s in failed.sessions} == {made[i].id for i in (0, 3, 6, 9)}
    both = await search_sessions(store, status=["failed", SessionStatus.COMPLETED], limit=100)
    assert len(both.sessions) == 10
    tagged = await search_sessions(store, tags=["nightly"], agent_id="reviewer")
    assert {s.id for s in tagged.sessions} == {made[i].id for i in (0, 2, 4)}
    window = await search_sessions(
        store, since=T0 - timedelta(days=8), until=T0 - timedelta(days=5)
    )
    assert {s.id for s in window.sessions} == {made[i].id for i in (2, 3, 4)}
    assert (await search_sessions(store, provider="codex")).sessions == []
    assert len((await search_sessions(store, provider="claude", limit=100)).sessions) == 10
    text = await search_sessions(store, text="asm-7")
    assert [s.id for s in text.sessions] == [made[7].id]
    text_page = await search_sessions(store, text="ASM-", limit=2)
    assert text_page.next_cursor == made[8].id


@pytest.mark.parametrize("kwargs", [{"limit": 0}, {"limit": 1001}, {"status": "asleep"}])
async def test_search_rejects_bad_input(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        await search_sessions(InMemorySessionStore(), **kwargs)  # type: ignore[arg-type]


async def test_usage_by_session_agent_and_provider() -> None:
    store = InMemorySessionStore()
    a = await add_session(
        store,
        agent="coder",
        provider="claude",
        runs=2,
        usage=TokenUsage(input_tokens=100, output_tokens=10, cache_read_tokens=40),
        cost=0.5,
    )
    b = await add_session(
        store,
        agent="coder",
        provider="codex",
        runs=1,
        usage=TokenUsage(input_tokens=7, output_tokens=3),
        cost=None,
    )
    c = await add_session(
        store,
        agent="reviewer",
        provider=None,
        runs=1,
        usage=TokenUsage(input_tokens=1, output_tokens=1),
        cost=0.25,
    )
    empty = await add_session(store, agent="idle", runs=0)

    by_session = await usage_summary(store, by="session")
    rows = {row.key: row for row in by_session.rows}
    assert rows[a.id].usage == TokenUsage(input_tokens=200, output_tokens=20, cache_read_tokens=80)
    assert rows[a.id].cost_usd == pytest.approx(1.0)
    assert rows[b.id].runs_without_cost == 1
    assert rows[empty.id].runs == 0
    assert [row.key for row in by_session.rows][:2] == [a.id, c.id]  # most expensive first
    assert by_session.total.runs == 4
    assert by_session.total.sessions == 4
    assert by_session.total.usage.total_tokens == 220 + 10 + 2
    assert by_session.total.cost_usd == pytest.approx(1.25)

    by_agent = {row.key: row for row in (await usage_summary(store, by="agent")).rows}
    assert (by_agent["coder"].sessions, by_agent["coder"].runs) == (2, 3)
    assert by_agent["coder"].usage.total_tokens == 230
    assert by_agent["idle"].runs == 0

    by_provider = await usage_summary(store, by="provider")
    providers = {row.key: row for row in by_provider.rows}
    assert set(providers) == {"claude", "codex", "unknown"}
    assert providers["codex"].to_dict()["total_tokens"] == 10
    assert providers["unknown"].cost_usd == pytest.approx(0.25)

    only_b = await usage_summary(store, by="provider", session_ids=[b.id])
    assert [row.key for row in only_b.rows] == ["codex"]
    with pytest.raises(ValidationError):
        await usage_summary(store, by="model")


async def test_usage_time_window_selects_runs_not_sessions() -> None:
    store = InMemorySessionStore()
    # An old session whose runs are spread over time (run i created i seconds after it).
    old = await add_session(store, age_days=30, runs=3, cost=1.0)
    await add_session(store, age_days=30, runs=1, cost=5.0)  # its only run is outside
    runs = await store.list_runs(old.id)
    window = await usage_summary(
        store,
        since=runs[1].created_at,
        until=runs[2].created_at + timedelta(microseconds=1),
    )
    assert [row.key for row in window.rows] == [old.id]
    assert window.total.runs == 2
    assert window.total.cost_usd == pytest.approx(2.0)
    with pytest.raises(ValidationError):
        await usage_summary(store, since=T0.replace(tzinfo=None))
