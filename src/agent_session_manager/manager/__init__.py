"""The orchestration of sessions and runs: :class:`SessionManager` and what a run returns.

``_manager.py`` holds the manager (sessions, claiming and ending runs with guarded writes),
``_driver.py`` the awaits of one run's execution around a ``RunTally``, ``_result.py`` the
:class:`RunResult` value. Import the public names from here (or from the package root).
"""

from agent_session_manager.core.options import DEFAULT_RUN_TIMEOUT
from agent_session_manager.manager._manager import DEFAULT_CANCEL_GRACE, SessionManager
from agent_session_manager.manager._result import RunResult

__all__ = ["DEFAULT_CANCEL_GRACE", "DEFAULT_RUN_TIMEOUT", "RunResult", "SessionManager"]
