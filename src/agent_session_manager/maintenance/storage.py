"""Storage statistics: how many sessions, runs and events a store holds, and the bytes they take.

The counting lives beside the store port (:func:`agent_session_manager.store.protocol.
storage_stats`), where ``CompositeStore`` can use it too; this module keeps it under
``maintenance`` with the other whole-store reports.
"""

from __future__ import annotations

from agent_session_manager.store.protocol import storage_stats

__all__ = ["storage_stats"]
