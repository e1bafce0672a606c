"""Event output for the CLI: the ``--format`` choices and the live printer used during runs.

:class:`LivePrinter` is the manager's ``on_event`` callback: it prints each stored event as it
arrives and, since session lifecycle events are not passed to callbacks, fills any gap in the
session's sequence from the store first, so the output is the session's log in order, gap-free.
Knows the renderers, the ``Event`` value and the store port; nothing about providers or runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING

import orjson

from agent_session_manager.cli import _output

if TYPE_CHECKING:
    from agent_session_manager.core.events import Event
    from agent_session_manager.rendering import Renderer
    from agent_session_manager.store.protocol import SessionStore


class OutputFormat(StrEnum):
    """How events are printed."""

    COMPACT = "compact"
    VERBOSE = "verbose"
    JSONL = "jsonl"


class JsonlRenderer:
    """One JSON object per event per line: exactly ``Event.to_dict()`` of the stored event."""

    def render(self, event: Event) -> str:
        return orjson.dumps(event.to_dict()).decode() + "\n"

    def finish(self) -> str:
        return ""


def make_renderer(output_format: OutputFormat, *, color: bool) -> Renderer:
    """The renderer for ``--format``."""
    if output_format is OutputFormat.JSONL:
        return JsonlRenderer()
    from agent_session_manager.rendering import CompactRenderer, VerboseRenderer

    if output_format is OutputFormat.VERBOSE:
        return VerboseRenderer(color=color)
    return CompactRenderer(color=color)


class LivePrinter:
    """Prints a session's events as they are stored, in sequence order, each exactly once.

    ``after`` is the sequence number already accounted for (0 for a new session); ``session_id``
    may be ``None`` when the session is created later (it is learnt from the first event).
    """

    def __init__(
        self,
        store: SessionStore,
        renderer: Renderer,
        *,
        session_id: str | None = None,
        after: int = 0,
        write: Callable[[str], None] | None = None,
        observe: Callable[[Event], None] | None = None,
    ) -> None:
        self.store = store
        self.renderer = renderer
        self.session_id = session_id
        self.cursor = after
        self.run_id: str | None = None
        self.printed = 0
        self._write = write or _write_stdout
        self._observe = observe

    async def on_event(self, event: Event) -> None:
        """The ``on_event`` callback: print missed earlier events, then ``event``."""
        if self.session_id is None:
            self.session_id = event.session_id
        if self.run_id is None and event.run_id is not None:
            self.run_id = event.run_id
        sequence = event.sequence_number or 0
        if event.session_id == self.session_id and sequence > self.cursor + 1:
            missed = await self.store.get_events(
                self.session_id, after=self.cursor, before=sequence
            )
            for earlier in missed:
                self._show(earlier)
        self._show(event)

    async def catch_up(self) -> None:
        """Print every event stored after the last one printed (e.g. the session's closing)."""
        if self.session_id is None:
            return
        for event in await self.store.get_events(self.session_id, after=self.cursor):
            self._show(event)

    def finish(self) -> None:
        text = self.renderer.finish()
        if text:
            self._write(text)

    def _show(self, event: Event) -> None:
        sequence = event.sequence_number or 0
        if event.session_id == self.session_id:
            if sequence and sequence <= self.cursor:
                return
            self.cursor = max(self.cursor, sequence)
        self.printed += 1
        if self._observe is not None:
            self._observe(event)
        text = self.renderer.render(event)
        if text:
            self._write(text)


def _write_stdout(text: str) -> None:
    # The reader may have gone away (``asm run … | head``): the run goes on regardless.
    with contextlib.suppress(BrokenPipeError):
        _output.out(text, nl=False)
