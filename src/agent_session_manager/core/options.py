"""Option values shared by every layer: the permission modes, the default run timeout, and the
typed "use the default" marker.

They live in core so that configuration, the manager, the runtime and the adapters agree on them
without importing one another. Pure values: this module knows no store, provider or event loop.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DEFAULT_RUN_TIMEOUT", "USE_DEFAULT_TIMEOUT", "PermissionMode", "UseDefault"]

#: Default run timeout in seconds. Coding-agent runs are long; pass ``timeout=None`` for none.
DEFAULT_RUN_TIMEOUT = 1800.0


class PermissionMode(StrEnum):
    """How much the agent may do without asking; each adapter maps it to native flags."""

    DEFAULT = "default"
    ACCEPT_EDITS = "accept_edits"
    PLAN = "plan"
    FULL_AUTO = "full_auto"
    DANGEROUSLY_SKIP_PERMISSIONS = "dangerously_skip_permissions"


class UseDefault:
    """The type of :data:`USE_DEFAULT_TIMEOUT`: "not given, use the owner's default".

    ``timeout=None`` already means "no timeout", so an unset timeout needs a value of its own.
    Passing it on unchanged (``timeout=timeout``) lets every layer defer to the one that owns
    the default (the manager's ``default_timeout``), with no keyword juggling in between.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "USE_DEFAULT_TIMEOUT"


#: Pass as ``timeout=`` to mean the manager's ``default_timeout`` (the default of every
#: ``timeout`` parameter that accepts it).
USE_DEFAULT_TIMEOUT = UseDefault()
