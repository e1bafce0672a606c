"""Provider adapters: the ``ProviderAdapter`` port (``protocol.py``) and one module per provider.

The port's names are re-exported here and load on first use (PEP 562): ``cli/_early`` imports
``providers._prestart`` before anything else, so importing this package must import nothing but
the standard library (no pydantic, asyncio or typing). No adapter is imported from here.
"""

#: ``typing.TYPE_CHECKING`` without importing ``typing`` (mypy and ruff treat the name alike).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from agent_session_manager.providers.protocol import (
        AdapterOptions,
        Message,
        PermissionMode,
        ProviderAdapter,
        ProviderEvent,
        RunRequest,
    )

__all__ = [
    "AdapterOptions",
    "Message",
    "PermissionMode",
    "ProviderAdapter",
    "ProviderEvent",
    "RunRequest",
]


def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from agent_session_manager.providers import protocol

    value = getattr(protocol, name)
    globals()[name] = value
    return value
