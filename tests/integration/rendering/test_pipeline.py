"""Rendering from a real SQLite store: JSONL lines equal the stored JSON, also after reopening."""

from __future__ import annotations

import io
from pathlib import Path

import orjson

from agent_session_manager import (
    JSONLSink,
    PassthroughRenderer,
    Scenario,
    ScriptedAdapter,
    SessionManager,
    SQLiteSessionStore,
    render_events,
)
from tests.support.golden_run import aiter_of


async def test_jsonl_full_lines_equal_the_stored_json(tmp_path: Path) -> None:
    scenario = Scenario().text("hi", chunks=2).tool_call("bash", {"command": "ls"}, output="a")
    store = await SQLiteSessionStore.open(tmp_path / "s.db")
    try:
        manager = SessionManager(store, ScriptedAdapter(scenario))
        result = await manager.run_once("go")
        stored = await store.get_events(result.session_id)
        out = io.StringIO()
        await render_events(aiter_of(stored), PassthroughRenderer(), [JSONLSink(stream=out)])
    finally:
        await store.close()
    reopened = await SQLiteSessionStore.open(tmp_path / "s.db")
    try:
        again = await reopened.get_events(result.session_id)
    finally:
        await reopened.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == len(again)
    for line, event in zip(lines, again, strict=True):
        assert orjson.loads(line) == event.to_dict()
        assert line == orjson.dumps(event.to_dict()).decode()
