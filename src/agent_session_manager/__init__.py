"""agent-session-manager: sessions, runs and a durable event log for applications that drive AI
coding agents.

This module is the public API; everything is re-exported from here and nothing else lives here.
"""

from typing import TYPE_CHECKING, Any

from agent_session_manager.core.capabilities import (
    Capability,
    CapabilityResolver,
    CapabilityType,
    Manifest,
    NegotiationResult,
    NegotiationStatus,
)
from agent_session_manager.core.errors import (
    ASMError,
    ConcurrencyError,
    ErrorCategory,
    InvalidTransition,
    NotFoundError,
    PolicyViolation,
    ProviderError,
    RunCancelled,
    RunNotFound,
    RunTimeout,
    SessionNotFound,
    StorageError,
    ToolError,
    ValidationError,
    is_retryable,
)
from agent_session_manager.core.events import EVENT_SCHEMAS, Event, EventSchema, EventType
from agent_session_manager.core.lifecycle import RunStatus, SessionStatus
from agent_session_manager.core.models import ProviderHandle, Run, Session
from agent_session_manager.core.redaction import Redactor, SecretPattern
from agent_session_manager.core.usage import TokenUsage
from agent_session_manager.manager import DEFAULT_RUN_TIMEOUT, RunResult, SessionManager
from agent_session_manager.pipeline import CallbackError, EventCallback
from agent_session_manager.providers.base import (
    AdapterOptions,
    Message,
    PermissionMode,
    ProviderAdapter,
    ProviderEvent,
    RunRequest,
)
from agent_session_manager.providers.scripted import Scenario, ScriptedAdapter
from agent_session_manager.store.memory import InMemorySessionStore
from agent_session_manager.store.protocol import SessionStore

if TYPE_CHECKING:
    from agent_session_manager.store.factory import default_store_url, open_store
    from agent_session_manager.store.sqlite import SQLiteSessionStore

__version__ = "0.1.0"

# Backends load on first use, so `import agent_session_manager` stays light.
_LAZY = {
    "SQLiteSessionStore": "agent_session_manager.store.sqlite",
    "open_store": "agent_session_manager.store.factory",
    "default_store_url": "agent_session_manager.store.factory",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_RUN_TIMEOUT",
    "EVENT_SCHEMAS",
    "ASMError",
    "AdapterOptions",
    "CallbackError",
    "Capability",
    "CapabilityResolver",
    "CapabilityType",
    "ConcurrencyError",
    "ErrorCategory",
    "Event",
    "EventCallback",
    "EventSchema",
    "EventType",
    "InMemorySessionStore",
    "InvalidTransition",
    "Manifest",
    "Message",
    "NegotiationResult",
    "NegotiationStatus",
    "NotFoundError",
    "PermissionMode",
    "PolicyViolation",
    "ProviderAdapter",
    "ProviderError",
    "ProviderEvent",
    "ProviderHandle",
    "Redactor",
    "Run",
    "RunCancelled",
    "RunNotFound",
    "RunRequest",
    "RunResult",
    "RunStatus",
    "RunTimeout",
    "SQLiteSessionStore",
    "Scenario",
    "ScriptedAdapter",
    "SecretPattern",
    "Session",
    "SessionManager",
    "SessionNotFound",
    "SessionStatus",
    "SessionStore",
    "StorageError",
    "TokenUsage",
    "ToolError",
    "ValidationError",
    "__version__",
    "default_store_url",
    "is_retryable",
    "open_store",
]
