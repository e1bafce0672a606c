"""Maintenance and query over any ``SessionStore``: search, usage and cost summaries, storage
statistics, session export/import bundles and retention with a dry-run report.

Everything here is written against the ``SessionStore`` and ``ArtifactStore`` protocols only, so
it works on the in-memory, SQLite and PostgreSQL stores and on third-party ones alike; it knows
no backend.
"""

from __future__ import annotations

from agent_session_manager.maintenance.bundle import (
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    ImportResult,
    export_session,
    export_session_text,
    import_session,
)
from agent_session_manager.maintenance.query import SessionPage, iter_sessions, search_sessions
from agent_session_manager.maintenance.retention import (
    PROTECTED_EVENT_TYPES,
    EventPruning,
    RetentionPolicy,
    RetentionReport,
    RunDeletion,
    SessionDeletion,
    apply_retention,
    clean_orphaned_artifacts,
    plan_retention,
)
from agent_session_manager.maintenance.storage import storage_stats
from agent_session_manager.maintenance.usage import (
    UsageGrouping,
    UsageReport,
    UsageRow,
    usage_summary,
)

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "PROTECTED_EVENT_TYPES",
    "EventPruning",
    "ImportResult",
    "RetentionPolicy",
    "RetentionReport",
    "RunDeletion",
    "SessionDeletion",
    "SessionPage",
    "UsageGrouping",
    "UsageReport",
    "UsageRow",
    "apply_retention",
    "clean_orphaned_artifacts",
    "export_session",
    "export_session_text",
    "import_session",
    "iter_sessions",
    "plan_retention",
    "search_sessions",
    "storage_stats",
    "usage_summary",
]
