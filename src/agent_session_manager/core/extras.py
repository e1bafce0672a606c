"""The optional dependencies, the extra of ours that installs each, and the error that says so.

A feature that needs an optional package (the PostgreSQL store, the S3 artifact store, the ACP
adapter) imports it inside :func:`install_hint`, which turns the ``ImportError`` of a missing
package into :class:`MissingDependency`, whose message is the command to run. It imports only
the errors and the stdlib, so the package root's lazy loader can use it; it knows no feature.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from agent_session_manager.core.errors import ValidationError

__all__ = ["EXTRAS", "MissingDependency", "install_hint"]

#: Optional packages (their top-level import names) and the extra that installs each.
EXTRAS: dict[str, str] = {"asyncpg": "postgres", "boto3": "s3", "botocore": "s3", "acp": "acp"}


class MissingDependency(ValidationError, ImportError):
    """An optional package is not installed; the message names the extra that brings it.

    An ``ImportError``, as Python code expects of a missing package, and a ``ValidationError``
    (nothing was written), as the store factory and the S3 store have always raised.
    """

    def __init__(self, feature: str, module: str) -> None:
        extra = EXTRAS[module]
        super().__init__(
            f"{feature} needs {module}: pip install 'agentsessionmanager[{extra}]'",
            details={"missing": module, "extra": extra},
        )
        self.name = module


@contextmanager
def install_hint(feature: str) -> Iterator[None]:
    """Around the import of an optional package: its ``ImportError`` becomes
    :class:`MissingDependency` naming the extra (any other import failure passes unchanged)."""
    try:
        yield
    except ImportError as exc:
        module = (exc.name or "").partition(".")[0]
        if module not in EXTRAS:
            raise
        raise MissingDependency(feature, module) from exc
