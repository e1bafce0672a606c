"""Public test helpers for users of agent-session-manager and for its own suite.

``agent_session_manager.testing.store_conformance.SessionStoreConformance`` is the contract every
``SessionStore`` backend must pass; subclass it in your tests to check your own store. Modules
here may import pytest and Hypothesis; the library proper never imports this package.
"""

__all__: list[str] = []
