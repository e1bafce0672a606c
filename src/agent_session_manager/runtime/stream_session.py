"""StreamSession: one call that runs one prompt and hands back its events as an async iterator.

It owns everything it creates: the store (a fresh in-memory store unless one is passed, which
is then only borrowed), the :class:`SessionManager`, the background task running
:meth:`SessionManager.run_once`, and their cleanup. Events are handed over through a bounded
buffer, so a slow consumer slows the run rather than growing memory. Closing (explicitly, by
leaving ``async with``, by an exception or by cancellation of the consumer) cancels the run if it
is still going (it is recorded ``cancelled`` and the adapter's stream is closed), waits for the
task and closes an owned store: nothing is left running. It knows the manager and the ports,
no particular provider or store backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Self

from agent_session_manager.core.events import Event
from agent_session_manager.core.options import USE_DEFAULT_TIMEOUT, UseDefault
from agent_session_manager.core.redaction import Redactor
from agent_session_manager.manager import RunResult, SessionManager
from agent_session_manager.pipeline import EventCallback, invoke_callback
from agent_session_manager.providers.protocol import AdapterOptions, ProviderAdapter
from agent_session_manager.store.memory import InMemorySessionStore
from agent_session_manager.store.protocol import SessionStore

__all__ = ["DEFAULT_BUFFER", "StreamSession", "open_stream", "stream_session"]

logger = logging.getLogger(__name__)

#: Events buffered between the run and a slower consumer before the run waits.
DEFAULT_BUFFER = 256


class _End:
    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class StreamSession:
    """The events of one run, as an async iterator that owns the run.

    Create it with :func:`stream_session` (``async with``) or :func:`open_stream` (iterator +
    close); both take the keyword arguments below.
    After the iterator ends, :attr:`result` holds the :class:`RunResult`; if the run could not
    execute at all (bad input, store failure) the iterator raises that error instead.
    """

    def __init__(
        self,
        adapter: ProviderAdapter,
        input: str | Mapping[str, Any],
        *,
        store: SessionStore | None = None,
        agent_id: str | None = None,
        system_prompt: str | None = None,
        options: AdapterOptions | None = None,
        timeout: float | UseDefault | None = USE_DEFAULT_TIMEOUT,
        on_event: EventCallback | None = None,
        redaction: Redactor | bool = True,
        buffer: int = DEFAULT_BUFFER,
    ) -> None:
        self._owns_store = store is None
        self.store: SessionStore = store if store is not None else InMemorySessionStore()
        self.manager = SessionManager(self.store, adapter, redaction=redaction)
        self._input = input
        self._agent_id = agent_id
        self._system_prompt = system_prompt
        self._options = options
        self._timeout = timeout
        self._user_callback = on_event
        self._queue: asyncio.Queue[Event | _End] = asyncio.Queue(maxsize=max(1, buffer))
        self._task: asyncio.Task[None] | None = None
        self._ended = False
        self._closed = False
        self.result: RunResult | None = None
        self.session_id: str | None = None
        self.run_id: str | None = None

    def start(self) -> None:
        """Start the run (called by :func:`stream_session` / :func:`open_stream`)."""
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._run(), name="asm-stream-session")

    async def _run(self) -> None:
        error: BaseException | None = None
        try:
            self.result = await self.manager.run_once(
                self._input,
                agent_id=self._agent_id,
                system_prompt=self._system_prompt,
                options=self._options,
                timeout=self._timeout,
                on_event=self._forward,
            )
        except Exception as exc:
            error = exc
        await self._queue.put(_End(error))

    async def _forward(self, event: Event) -> None:
        self.session_id = event.session_id
        self.run_id = event.run_id
        if self._user_callback is not None:
            await invoke_callback(self._user_callback, event)
        await self._queue.put(event)

    # -- iteration --------------------------------------------------------------------------
    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        if self._ended or self._closed:
            raise StopAsyncIteration
        self.start()
        item = await self._queue.get()
        if isinstance(item, _End):
            self._ended = True
            if item.error is not None:
                raise item.error
            raise StopAsyncIteration
        return item

    # -- closing ----------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Stop the run if it is still going, wait for its task, close an owned store.

        Idempotent; safe before, during or after iteration.
        """
        if self._closed:
            return
        self._closed = True
        task = self._task
        try:
            if task is not None and not task.done():
                task.cancel()
            if task is not None:
                # Wait even if our own caller is being cancelled: the run must be recorded.
                await asyncio.shield(asyncio.gather(task, return_exceptions=True))
        finally:
            if self._owns_store:
                with contextlib.suppress(Exception):
                    await self.store.close()

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def stream_session(
    adapter: ProviderAdapter,
    input: str | Mapping[str, Any],
    *,
    store: SessionStore | None = None,
    agent_id: str | None = None,
    system_prompt: str | None = None,
    options: AdapterOptions | None = None,
    timeout: float | UseDefault | None = USE_DEFAULT_TIMEOUT,
    on_event: EventCallback | None = None,
    redaction: Redactor | bool = True,
    buffer: int = DEFAULT_BUFFER,
) -> StreamSession:
    """Run ``input`` on ``adapter`` and iterate its events: ``async with stream_session(...) as
    events``. Entering starts the run; leaving stops it if still going and cleans up.

    A store passed in is borrowed (left open); without one the run uses a fresh in-memory store.
    ``timeout`` bounds the run (default: :data:`DEFAULT_RUN_TIMEOUT`, ``None`` for none).
    """
    return StreamSession(
        adapter,
        input,
        store=store,
        agent_id=agent_id,
        system_prompt=system_prompt,
        options=options,
        timeout=timeout,
        on_event=on_event,
        redaction=redaction,
        buffer=buffer,
    )


async def open_stream(
    adapter: ProviderAdapter,
    input: str | Mapping[str, Any],
    *,
    store: SessionStore | None = None,
    agent_id: str | None = None,
    system_prompt: str | None = None,
    options: AdapterOptions | None = None,
    timeout: float | UseDefault | None = USE_DEFAULT_TIMEOUT,
    on_event: EventCallback | None = None,
    redaction: Redactor | bool = True,
    buffer: int = DEFAULT_BUFFER,
) -> tuple[StreamSession, Callable[[], Awaitable[None]]]:
    """Start the run and return ``(events, close)``, for code that cannot use ``async with``;
    call ``await close()`` in a ``finally``. Arguments are those of :func:`stream_session`."""
    stream = stream_session(
        adapter,
        input,
        store=store,
        agent_id=agent_id,
        system_prompt=system_prompt,
        options=options,
        timeout=timeout,
        on_event=on_event,
        redaction=redaction,
        buffer=buffer,
    )
    stream.start()
    return stream, stream.aclose
