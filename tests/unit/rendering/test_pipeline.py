"""Rendering pipeline: renderer x sinks, golden text through File/TTY sinks, compact JSONL, and a
failing sink that is reported without stopping anything."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest

from agent_session_manager import (
    CallbackSink,
    CompactRenderer,
    Event,
    FileSink,
    InMemorySessionStore,
    JSONLSink,
    Renderer,
    RenderPipeline,
    Scenario,
    ScriptedAdapter,
    SessionManager,
    TTYSink,
    ValidationError,
    VerboseRenderer,
    render_events,
)
from agent_session_manager.rendering import compact_record, strip_ansi
from tests.support.golden_run import GOLDEN, GOLDEN_COLOR, aiter_of, golden_events


async def test_compact_golden_through_tty_and_file_sinks(tmp_path: Path) -> None:
    tty = io.StringIO()
    path = tmp_path / "out.txt"
    summary = await render_events(
        aiter_of(golden_events()), CompactRenderer(color=True), [TTYSink(tty), FileSink(path)]
    )
    assert summary.ok
    assert summary.events == 17
    assert tty.getvalue() == GOLDEN_COLOR
    assert path.read_text() == GOLDEN  # the file gets the same text without colour


async def test_verbose_golden_with_and_without_colour_through_a_file_stream() -> None:
    plain, coloured = io.StringIO(), io.StringIO()
    await render_events(aiter_of(golden_events()), VerboseRenderer(), [FileSink(stream=plain)])
    await render_events(aiter_of(golden_events()), VerboseRenderer(color=True), [TTYSink(coloured)])
    assert "\x1b[" in coloured.getvalue()
    assert strip_ansi(coloured.getvalue()) == plain.getvalue()
    lines = plain.getvalue().splitlines()
    assert lines[0] == "#1 03:04:05.678 [session_created] agent_id=a provider=scripted"
    assert lines[-1] == "--- 17 events, 2 tools ---"
    assert len(lines) == 18


def test_strip_ansi_and_lone_carriage_returns() -> None:
    assert strip_ansi("\x1b[0;31mred\x1b[0m \x1b[2Kline\rover\r\n") == "red lineover\r\n"


async def test_jsonl_compact_records(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    await render_events(aiter_of(golden_events()), None, [JSONLSink(path, mode="compact")])
    records = [orjson.loads(line) for line in path.read_text().splitlines()]
    by_type = {r["t"]: r for r in records}
    assert by_type["rs"] == {
        "s": 4,
        "ts": 1735787045678,
        "t": "rs",
        "r": "run_1",
        "m": "sonnet-4-5",
    }
    assert by_type["st"]["l"] == 5
    assert by_type["tc"]["n"] == "read"
    assert by_type["tc"]["l"] == len('{"lines":2,"ok":true}')
    assert (by_type["tu"]["i"], by_type["tu"]["o"]) == (120, 45)
    assert by_type["rc"]["sr"] == "end"
    assert by_type["rc"]["$"] == pytest.approx(0.01234)
    assert by_type["session_created"]["s"] == 1
    failed = compact_record(Event("run_failed", "ses_1", {"error_message": "x" * 500}))
    assert failed["x"] == "x" * 120 + "..."


async def test_a_failing_sink_is_reported_and_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        async def write_event(self, event: Event, text: str) -> None:
            raise OSError("disk full")

        async def write(self, text: str) -> None:
            raise OSError("disk full")

        async def flush(self) -> None:
            return None

        async def close(self) -> None:
            raise OSError("still broken")

    seen: list[tuple[str, str]] = []
    good = io.StringIO()
    summary = await render_events(
        aiter_of(golden_events()),
        CompactRenderer(),
        [Broken(), CallbackSink(lambda e, t: seen.append((e.type, t))), TTYSink(good)],
    )
    assert good.getvalue() == GOLDEN
    assert len(seen) == 17
    assert summary.errors == {"Broken": 17 + 2}  # every event, the closing text and close
    assert summary.failed_sinks == ["Broken"]
    assert not summary.ok
    assert sum("Broken failed" in r.getMessage() for r in caplog.records) == 1


async def test_pipeline_as_on_event_never_fails_the_run() -> None:
    def explode(event: Event, text: str) -> None:
        raise RuntimeError("callback sink bug")

    async def async_cb(event: Event, text: str) -> None:
        texts.append(text)

    texts: list[str] = []
    pipeline = RenderPipeline(CompactRenderer(), [CallbackSink(explode), CallbackSink(async_cb)])
    manager = SessionManager(InMemorySessionStore(), ScriptedAdapter(Scenario().text("fine")))
    result = await manager.run_once("go", on_event=pipeline)
    summary = await pipeline.finish()
    assert result.ok
    assert summary.errors == {"CallbackSink": summary.events}
    assert "".join(texts).startswith("<< go")


async def test_a_failing_renderer_is_counted() -> None:
    class Bad:
        def render(self, event: Event) -> str:
            raise ValueError("bad renderer")

        def finish(self) -> str:
            return 42  # type: ignore[return-value]

    out = io.StringIO()
    summary = await render_events(aiter_of(golden_events()[:3]), Bad(), [JSONLSink(stream=out)])
    assert summary.errors == {"renderer": 3}
    assert len(out.getvalue().splitlines()) == 3
    assert isinstance(Bad(), Renderer)


def test_sink_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        FileSink()
    with pytest.raises(ValidationError):
        JSONLSink(tmp_path / "x", stream=io.StringIO())
    with pytest.raises(ValidationError):
        JSONLSink(stream=io.StringIO(), mode="tiny")  # type: ignore[arg-type]
