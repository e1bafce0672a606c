"""Control operations: cancel a run, pause and resume a session, interrupt a provider's turn.

One object over a :class:`SessionManager` and the :class:`SessionServer` instances registered
with it, so a caller can act on a run or a session by id without knowing who executes it: a
registered server is asked (so its queue honours a pause), otherwise the manager acts on the
store. ``interrupt`` needs the provider's support, declared by an enabled capability named
``"interrupt"`` and an ``interrupt(run_id)`` coroutine on the adapter; without both it raises a
clear error instead of pretending. Every operation is kept in a short per-run history. This
module knows no provider or store backend.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from agent_session_manager.core.clock import utcnow
from agent_session_manager.core.errors import RunNotFound, ValidationError
from agent_session_manager.core.models import Run, Session
from agent_session_manager.manager import SessionManager
from agent_session_manager.runtime.session_server import SessionServer

__all__ = ["INTERRUPT_CAPABILITY", "ControlOperations", "ControlRecord", "SupportsInterrupt"]

logger = logging.getLogger(__name__)

#: The capability name an adapter declares (any capability type) when it supports interrupt.
INTERRUPT_CAPABILITY = "interrupt"
_HISTORY_RUNS = 1024
_HISTORY_PER_RUN = 32


@runtime_checkable
class SupportsInterrupt(Protocol):
    """An adapter that can stop the provider's current turn without cancelling the run (the
    run then ends as the provider reports it, usually ``completed``)."""

    async def interrupt(self, run_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class ControlRecord:
    """One control operation: what was asked, when, and how it ended (``ok`` or an error code)."""

    operation: str
    target: str
    at: datetime
    result: str


class ControlOperations:
    """Cancel, pause, resume and interrupt by id, through the right server or the manager."""

    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager
        self._servers: dict[str, SessionServer] = {}
        self._history: OrderedDict[str, deque[ControlRecord]] = OrderedDict()

    # -- registration -----------------------------------------------------------------------
    def register(self, server: SessionServer) -> None:
        """Route operations on ``server.session_id`` (and its runs) through ``server``."""
        self._servers[server.session_id] = server

    def unregister(self, server: SessionServer) -> None:
        if self._servers.get(server.session_id) is server:
            del self._servers[server.session_id]

    # -- operations -------------------------------------------------------------------------
    async def cancel(self, run_id: str, *, reason: str | None = None) -> Run:
        """Cancel a queued, pending or running run; return it in its final state."""
        async with self._recorded("cancel", run_id):
            run = await self.manager.store.get_run(run_id)
            server = self._live_server(run.session_id)
            if server is not None:
                await server.cancel_run(run_id, reason=reason)
                return await self.manager.store.get_run(run_id)
            return await self.manager.cancel_run(run_id, reason=reason)

    async def pause(self, session_id: str, *, reason: str | None = None) -> Session:
        """Pause a session: new runs wait until :meth:`resume` (runs in flight go on)."""
        async with self._recorded("pause", session_id):
            server = self._live_server(session_id)
            if server is not None:
                await server.pause(reason=reason)
                return await self.manager.get_session(session_id)
            return await self.manager.pause_session(session_id, reason=reason)

    async def resume(self, session_id: str) -> Session:
        """Resume a paused session; runs that waited start."""
        async with self._recorded("resume", session_id):
            server = self._live_server(session_id)
            if server is not None:
                await server.resume()
                return await self.manager.get_session(session_id)
            return await self.manager.resume_session(session_id)

    def supports_interrupt(self) -> bool:
        """Whether the manager's adapter declares and implements interrupt."""
        adapter = self.manager.adapter
        declared = any(c.name == INTERRUPT_CAPABILITY and c.enabled for c in adapter.capabilities())
        return declared and isinstance(adapter, SupportsInterrupt)

    async def interrupt(self, run_id: str) -> None:
        """Ask the provider to stop the current turn of a running run.

        Raises ``ValidationError`` (``missing_required_capability``) when the adapter does not
        support interrupt (use :meth:`cancel` instead) and ``RunNotFound`` when the run is not
        executing.
        """
        async with self._recorded("interrupt", run_id):
            adapter = self.manager.adapter
            if not self.supports_interrupt():
                raise ValidationError(
                    f"provider {adapter.name} does not support interrupt (no enabled "
                    f"'{INTERRUPT_CAPABILITY}' capability with an interrupt() method); "
                    "cancel the run instead",
                    code="capability_not_supported",
                    details={"provider": adapter.name, "capability": INTERRUPT_CAPABILITY},
                )
            if not self.manager.is_executing(run_id):
                raise RunNotFound(f"run {run_id} is not executing; nothing to interrupt")
            assert isinstance(adapter, SupportsInterrupt)
            await adapter.interrupt(run_id)

    def history(self, target: str) -> list[ControlRecord]:
        """Recent operations on a run or session id, oldest first (bounded)."""
        return list(self._history.get(target, ()))

    # -- internals --------------------------------------------------------------------------
    def _live_server(self, session_id: str) -> SessionServer | None:
        server = self._servers.get(session_id)
        if server is not None and server.closed:
            del self._servers[session_id]
            return None
        return server

    def _recorded(self, operation: str, target: str) -> _Recorder:
        return _Recorder(self, operation, target)

    def _record(self, operation: str, target: str, result: str) -> None:
        records = self._history.get(target)
        if records is None:
            records = self._history[target] = deque(maxlen=_HISTORY_PER_RUN)
            while len(self._history) > _HISTORY_RUNS:
                self._history.popitem(last=False)
        else:
            self._history.move_to_end(target)
        records.append(ControlRecord(operation, target, utcnow(), result))


class _Recorder:
    def __init__(self, owner: ControlOperations, operation: str, target: str) -> None:
        self.owner, self.operation, self.target = owner, operation, target

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        code = getattr(exc, "code", None) if exc is not None else None
        result = "ok" if exc is None else str(code or type(exc).__name__)
        self.owner._record(self.operation, self.target, result)
