"""agent-session-manager: sessions, runs and a durable event log for applications that drive AI
coding agents.

This module is the public API; everything is re-exported from here and nothing else lives here.
Every type that appears in a public signature (results, reports, sinks, observers) is exported
too, so users and the docs import every public name from ``agent_session_manager``.
Every name loads on first use (PEP 562), so ``import agent_session_manager`` imports nothing
heavy (no pydantic, asyncio or typer): the ``asm`` command starts fast and scripts pay only for
what they touch.
"""

#: ``typing.TYPE_CHECKING`` without importing ``typing`` (mypy and ruff treat the name alike).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from agent_session_manager.artifacts import (
        ArtifactRef,
        ArtifactStore,
        CompositeStore,
        FilesystemArtifactStore,
        S3ArtifactStore,
    )
    from agent_session_manager.config import (
        Settings,
        load_settings,
    )
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
    from agent_session_manager.core.models import Message, ProviderHandle, Run, Session
    from agent_session_manager.core.options import (
        DEFAULT_RUN_TIMEOUT,
        USE_DEFAULT_TIMEOUT,
        PermissionMode,
        UseDefault,
    )
    from agent_session_manager.core.redaction import Redactor, SecretPattern
    from agent_session_manager.core.usage import TokenUsage
    from agent_session_manager.maintenance import (
        EventPruning,
        ImportResult,
        RetentionPolicy,
        RetentionReport,
        RunDeletion,
        SessionDeletion,
        SessionPage,
        UsageGrouping,
        UsageReport,
        UsageRow,
        apply_retention,
        export_session,
        import_session,
        plan_retention,
        search_sessions,
        storage_stats,
        usage_summary,
    )
    from agent_session_manager.manager import RunResult, SessionManager
    from agent_session_manager.pipeline import CallbackError, EventCallback
    from agent_session_manager.providers.acp import (
        ACPAdapter,
    )
    from agent_session_manager.providers.amp import (
        AmpAdapter,
    )
    from agent_session_manager.providers.claude import (
        ClaudeAdapter,
    )
    from agent_session_manager.providers.codex import (
        CodexAdapter,
    )
    from agent_session_manager.providers.protocol import (
        AdapterOptions,
        ProviderAdapter,
        ProviderEvent,
        RunRequest,
    )
    from agent_session_manager.providers.scripted import Scenario, ScriptedAdapter
    from agent_session_manager.providers.shell import (
        ShellAdapter,
    )
    from agent_session_manager.rendering import (
        CallbackSink,
        CompactRenderer,
        FileSink,
        JSONLSink,
        PassthroughRenderer,
        Renderer,
        RenderPipeline,
        RenderSummary,
        Sink,
        TTYSink,
        VerboseRenderer,
        render_events,
    )
    from agent_session_manager.runtime import (
        ConcurrencyLimiter,
        ControlOperations,
        ControlRecord,
        LimiterStatus,
        ServerStatus,
        SessionServer,
        StreamSession,
        Subscription,
        open_stream,
        stream_session,
    )
    from agent_session_manager.store.factory import (
        default_store_url,
        open_store,
        upgrade_store,
    )
    from agent_session_manager.store.follow import follow_events
    from agent_session_manager.store.memory import InMemorySessionStore
    from agent_session_manager.store.postgres import (
        PostgresSessionStore,
    )
    from agent_session_manager.store.protocol import SessionStore, StorageStats
    from agent_session_manager.store.sqlite import (
        SQLiteSessionStore,
    )
    from agent_session_manager.telemetry import (
        AuditLog,
        Instrumentation,
        RunObserver,
        Telemetry,
    )

__version__ = "0.1.0"

# Every public name loads on first use, so `import agent_session_manager` stays light.
_LAZY = {
    "Capability": "agent_session_manager.core.capabilities",
    "CapabilityResolver": "agent_session_manager.core.capabilities",
    "CapabilityType": "agent_session_manager.core.capabilities",
    "Manifest": "agent_session_manager.core.capabilities",
    "NegotiationResult": "agent_session_manager.core.capabilities",
    "NegotiationStatus": "agent_session_manager.core.capabilities",
    "ASMError": "agent_session_manager.core.errors",
    "ConcurrencyError": "agent_session_manager.core.errors",
    "ErrorCategory": "agent_session_manager.core.errors",
    "InvalidTransition": "agent_session_manager.core.errors",
    "NotFoundError": "agent_session_manager.core.errors",
    "PolicyViolation": "agent_session_manager.core.errors",
    "ProviderError": "agent_session_manager.core.errors",
    "RunCancelled": "agent_session_manager.core.errors",
    "RunNotFound": "agent_session_manager.core.errors",
    "RunTimeout": "agent_session_manager.core.errors",
    "SessionNotFound": "agent_session_manager.core.errors",
    "StorageError": "agent_session_manager.core.errors",
    "ToolError": "agent_session_manager.core.errors",
    "ValidationError": "agent_session_manager.core.errors",
    "is_retryable": "agent_session_manager.core.errors",
    "EVENT_SCHEMAS": "agent_session_manager.core.events",
    "Event": "agent_session_manager.core.events",
    "EventSchema": "agent_session_manager.core.events",
    "EventType": "agent_session_manager.core.events",
    "RunStatus": "agent_session_manager.core.lifecycle",
    "SessionStatus": "agent_session_manager.core.lifecycle",
    "ProviderHandle": "agent_session_manager.core.models",
    "Run": "agent_session_manager.core.models",
    "Session": "agent_session_manager.core.models",
    "Redactor": "agent_session_manager.core.redaction",
    "SecretPattern": "agent_session_manager.core.redaction",
    "TokenUsage": "agent_session_manager.core.usage",
    "DEFAULT_RUN_TIMEOUT": "agent_session_manager.core.options",
    "PermissionMode": "agent_session_manager.core.options",
    "USE_DEFAULT_TIMEOUT": "agent_session_manager.core.options",
    "UseDefault": "agent_session_manager.core.options",
    "RunResult": "agent_session_manager.manager",
    "SessionManager": "agent_session_manager.manager",
    "CallbackError": "agent_session_manager.pipeline",
    "EventCallback": "agent_session_manager.pipeline",
    "AdapterOptions": "agent_session_manager.providers.protocol",
    "Message": "agent_session_manager.core.models",
    "ProviderAdapter": "agent_session_manager.providers.protocol",
    "ProviderEvent": "agent_session_manager.providers.protocol",
    "RunRequest": "agent_session_manager.providers.protocol",
    "Scenario": "agent_session_manager.providers.scripted",
    "ScriptedAdapter": "agent_session_manager.providers.scripted",
    "InMemorySessionStore": "agent_session_manager.store.memory",
    "SessionStore": "agent_session_manager.store.protocol",
    "StorageStats": "agent_session_manager.store.protocol",
    "SQLiteSessionStore": "agent_session_manager.store.sqlite",
    "PostgresSessionStore": "agent_session_manager.store.postgres",
    "default_store_url": "agent_session_manager.store.factory",
    "open_store": "agent_session_manager.store.factory",
    "upgrade_store": "agent_session_manager.store.factory",
    "follow_events": "agent_session_manager.store.follow",
    "ClaudeAdapter": "agent_session_manager.providers.claude",
    "CodexAdapter": "agent_session_manager.providers.codex",
    "ACPAdapter": "agent_session_manager.providers.acp",
    "AmpAdapter": "agent_session_manager.providers.amp",
    "ShellAdapter": "agent_session_manager.providers.shell",
    "ConcurrencyLimiter": "agent_session_manager.runtime",
    "ControlOperations": "agent_session_manager.runtime",
    "ControlRecord": "agent_session_manager.runtime",
    "LimiterStatus": "agent_session_manager.runtime",
    "ServerStatus": "agent_session_manager.runtime",
    "SessionServer": "agent_session_manager.runtime",
    "StreamSession": "agent_session_manager.runtime",
    "Subscription": "agent_session_manager.runtime",
    "open_stream": "agent_session_manager.runtime",
    "stream_session": "agent_session_manager.runtime",
    "AuditLog": "agent_session_manager.telemetry",
    "Instrumentation": "agent_session_manager.telemetry",
    "RunObserver": "agent_session_manager.telemetry",
    "Telemetry": "agent_session_manager.telemetry",
    "CallbackSink": "agent_session_manager.rendering",
    "CompactRenderer": "agent_session_manager.rendering",
    "FileSink": "agent_session_manager.rendering",
    "JSONLSink": "agent_session_manager.rendering",
    "PassthroughRenderer": "agent_session_manager.rendering",
    "RenderPipeline": "agent_session_manager.rendering",
    "RenderSummary": "agent_session_manager.rendering",
    "Sink": "agent_session_manager.rendering",
    "Renderer": "agent_session_manager.rendering",
    "TTYSink": "agent_session_manager.rendering",
    "VerboseRenderer": "agent_session_manager.rendering",
    "render_events": "agent_session_manager.rendering",
    "ArtifactRef": "agent_session_manager.artifacts",
    "ArtifactStore": "agent_session_manager.artifacts",
    "CompositeStore": "agent_session_manager.artifacts",
    "FilesystemArtifactStore": "agent_session_manager.artifacts",
    "S3ArtifactStore": "agent_session_manager.artifacts",
    "ImportResult": "agent_session_manager.maintenance",
    "RetentionPolicy": "agent_session_manager.maintenance",
    "RetentionReport": "agent_session_manager.maintenance",
    "EventPruning": "agent_session_manager.maintenance",
    "RunDeletion": "agent_session_manager.maintenance",
    "SessionDeletion": "agent_session_manager.maintenance",
    "SessionPage": "agent_session_manager.maintenance",
    "UsageGrouping": "agent_session_manager.maintenance",
    "UsageReport": "agent_session_manager.maintenance",
    "UsageRow": "agent_session_manager.maintenance",
    "apply_retention": "agent_session_manager.maintenance",
    "export_session": "agent_session_manager.maintenance",
    "import_session": "agent_session_manager.maintenance",
    "plan_retention": "agent_session_manager.maintenance",
    "search_sessions": "agent_session_manager.maintenance",
    "storage_stats": "agent_session_manager.maintenance",
    "usage_summary": "agent_session_manager.maintenance",
    "Settings": "agent_session_manager.config",
    "load_settings": "agent_session_manager.config",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    from agent_session_manager.core.extras import install_hint

    with install_hint(f"agent_session_manager.{name}"):  # a name needing a missing extra
        value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "DEFAULT_RUN_TIMEOUT",
    "EVENT_SCHEMAS",
    "USE_DEFAULT_TIMEOUT",
    "ACPAdapter",
    "ASMError",
    "AdapterOptions",
    "AmpAdapter",
    "ArtifactRef",
    "ArtifactStore",
    "AuditLog",
    "CallbackError",
    "CallbackSink",
    "Capability",
    "CapabilityResolver",
    "CapabilityType",
    "ClaudeAdapter",
    "CodexAdapter",
    "CompactRenderer",
    "CompositeStore",
    "ConcurrencyError",
    "ConcurrencyLimiter",
    "ControlOperations",
    "ControlRecord",
    "ErrorCategory",
    "Event",
    "EventCallback",
    "EventPruning",
    "EventSchema",
    "EventType",
    "FileSink",
    "FilesystemArtifactStore",
    "ImportResult",
    "InMemorySessionStore",
    "Instrumentation",
    "InvalidTransition",
    "JSONLSink",
    "LimiterStatus",
    "Manifest",
    "Message",
    "NegotiationResult",
    "NegotiationStatus",
    "NotFoundError",
    "PassthroughRenderer",
    "PermissionMode",
    "PolicyViolation",
    "PostgresSessionStore",
    "ProviderAdapter",
    "ProviderError",
    "ProviderEvent",
    "ProviderHandle",
    "Redactor",
    "RenderPipeline",
    "RenderSummary",
    "Renderer",
    "RetentionPolicy",
    "RetentionReport",
    "Run",
    "RunCancelled",
    "RunDeletion",
    "RunNotFound",
    "RunObserver",
    "RunRequest",
    "RunResult",
    "RunStatus",
    "RunTimeout",
    "S3ArtifactStore",
    "SQLiteSessionStore",
    "Scenario",
    "ScriptedAdapter",
    "SecretPattern",
    "ServerStatus",
    "Session",
    "SessionDeletion",
    "SessionManager",
    "SessionNotFound",
    "SessionPage",
    "SessionServer",
    "SessionStatus",
    "SessionStore",
    "Settings",
    "ShellAdapter",
    "Sink",
    "StorageError",
    "StorageStats",
    "StreamSession",
    "Subscription",
    "TTYSink",
    "Telemetry",
    "TokenUsage",
    "ToolError",
    "UsageGrouping",
    "UsageReport",
    "UsageRow",
    "UseDefault",
    "ValidationError",
    "VerboseRenderer",
    "__version__",
    "apply_retention",
    "default_store_url",
    "export_session",
    "follow_events",
    "import_session",
    "is_retryable",
    "load_settings",
    "open_store",
    "open_stream",
    "plan_retention",
    "render_events",
    "search_sessions",
    "storage_stats",
    "stream_session",
    "upgrade_store",
    "usage_summary",
]
