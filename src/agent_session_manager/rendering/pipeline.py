"""The rendering pipeline: events → one renderer → many sinks, with failures contained.

:class:`RenderPipeline` renders each event once and hands event and text to every sink. A sink
(or renderer) that raises is logged and counted in the :class:`RenderSummary` and keeps being
offered the following events; the other sinks and the caller are never affected, so a pipeline
can be used as a run's ``on_event`` callback without a broken terminal or full disk failing the
run. :func:`render_events` drives a pipeline over any async iterable of events (a
:class:`~agent_session_manager.runtime.session_server.Subscription`, a stream session,
``SessionManager.stream_session_events``). Knows nothing about stores or providers.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass, field

from agent_session_manager.core.events import Event
from agent_session_manager.rendering.passthrough import PassthroughRenderer
from agent_session_manager.rendering.protocol import Renderer
from agent_session_manager.rendering.sinks import Sink

__all__ = ["RenderPipeline", "RenderSummary", "render_events"]

logger = logging.getLogger(__name__)


@dataclass
class RenderSummary:
    """What a pipeline did: events rendered and failures per sink name (``"renderer"`` for
    the renderer). ``ok`` is true when nothing failed."""

    events: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def failed_sinks(self) -> list[str]:
        return [name for name in self.errors if name != "renderer"]


class RenderPipeline:
    """One renderer, many sinks. Await it with an event (it is an ``on_event`` callback), then
    :meth:`finish`. Never raises for a sink's or renderer's failure."""

    def __init__(self, renderer: Renderer | None = None, sinks: Sequence[Sink] = ()) -> None:
        self.renderer: Renderer = renderer if renderer is not None else PassthroughRenderer()
        self.sinks = list(sinks)
        self.names = _names(self.sinks)
        self.summary = RenderSummary()
        self._finished = False

    async def __call__(self, event: Event) -> None:
        await self.feed(event)

    async def feed(self, event: Event) -> None:
        self.summary.events += 1
        try:
            text = self.renderer.render(event)
            text = text if isinstance(text, str) else ""
        except Exception:
            self._failed("renderer", "render")
            text = ""
        for name, sink in zip(self.names, self.sinks, strict=True):
            try:
                await sink.write_event(event, text)
            except Exception:
                self._failed(name, "write_event")

    async def finish(self, *, close: bool = True) -> RenderSummary:
        """Write the renderer's closing text, flush and (by default) close every sink."""
        if self._finished:
            return self.summary
        self._finished = True
        try:
            closing = self.renderer.finish()
            closing = closing if isinstance(closing, str) else ""
        except Exception:
            self._failed("renderer", "finish")
            closing = ""
        for name, sink in zip(self.names, self.sinks, strict=True):
            if closing:
                await self._step(name, sink, "write", closing)
            await self._step(name, sink, "flush")
            if close:
                await self._step(name, sink, "close")
        return self.summary

    async def _step(self, name: str, sink: Sink, step: str, *args: str) -> None:
        """``sink.<step>(*args)``; a failure is counted, not raised."""
        try:
            await getattr(sink, step)(*args)
        except Exception:
            self._failed(name, step)

    def _failed(self, name: str, step: str) -> None:
        count = self.summary.errors.get(name, 0) + 1
        self.summary.errors[name] = count
        if count == 1:
            logger.exception(
                "rendering: %s failed in %s (further failures only counted)", name, step
            )


async def render_events(
    events: AsyncIterable[Event],
    renderer: Renderer | None = None,
    sinks: Sequence[Sink] = (),
    *,
    close: bool = True,
) -> RenderSummary:
    """Render every event of ``events`` to ``sinks``; return the summary (failures counted).

    The sinks are finished (closing text, flush, close) however the iteration ends.
    """
    pipeline = RenderPipeline(renderer, sinks)
    try:
        async for event in events:
            await pipeline.feed(event)
    finally:
        await pipeline.finish(close=close)
    return pipeline.summary


def _names(sinks: Sequence[Sink]) -> list[str]:
    names: list[str] = []
    for sink in sinks:
        base = type(sink).__name__
        name = base
        n = 2
        while name in names:
            name = f"{base}#{n}"
            n += 1
        names.append(name)
    return names
