"""Runtime: long-lived objects that serve sessions (SessionServer), bound concurrency
(ConcurrencyLimiter), control runs and sessions by id (ControlOperations) and stream one run
(stream_session). They orchestrate the manager and the store port; they know no provider or
store backend.
"""

from agent_session_manager.runtime.control import (
    INTERRUPT_CAPABILITY,
    ControlOperations,
    ControlRecord,
    SupportsInterrupt,
)
from agent_session_manager.runtime.limiter import ConcurrencyLimiter, LimiterStatus
from agent_session_manager.runtime.session_server import (
    ServerStatus,
    SessionServer,
    Subscription,
)
from agent_session_manager.runtime.stream_session import StreamSession, open_stream, stream_session

__all__ = [
    "INTERRUPT_CAPABILITY",
    "ConcurrencyLimiter",
    "ControlOperations",
    "ControlRecord",
    "LimiterStatus",
    "ServerStatus",
    "SessionServer",
    "StreamSession",
    "Subscription",
    "SupportsInterrupt",
    "open_stream",
    "stream_session",
]
