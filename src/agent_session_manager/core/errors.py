"""The error hierarchy: exceptions with a stable machine-readable ``code``.

Callers branch on ``code`` or on the class, never on message text. Every error knows its category
and whether retrying the same operation can succeed (``retryable``); a provider's raw error payload
is kept in ``provider_error`` so nothing the provider said is lost.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

__all__ = [
    "ERROR_CODES",
    "ASMError",
    "ConcurrencyError",
    "ErrorCategory",
    "InvalidTransition",
    "NotFoundError",
    "PolicyViolation",
    "ProviderError",
    "RunCancelled",
    "RunNotFound",
    "RunTimeout",
    "SessionNotFound",
    "StorageError",
    "ToolError",
    "ValidationError",
    "error_event_data",
    "is_retryable",
]


class ErrorCategory(StrEnum):
    VALIDATION = "validation"
    RESOURCE = "resource"
    PROVIDER = "provider"
    STORAGE = "storage"
    RUNTIME = "runtime"
    CONCURRENCY = "concurrency"
    TOOL = "tool"
    POLICY = "policy"


#: Every code the library raises, with its category and whether it is retryable by default.
ERROR_CODES: dict[str, tuple[ErrorCategory, bool]] = {
    # validation
    "validation_error": (ErrorCategory.VALIDATION, False),
    "invalid_transition": (ErrorCategory.VALIDATION, False),
    "invalid_event_type": (ErrorCategory.VALIDATION, False),
    "malformed_event": (ErrorCategory.VALIDATION, False),
    "invalid_capability_type": (ErrorCategory.VALIDATION, False),
    "missing_required_capability": (ErrorCategory.VALIDATION, False),
    "capability_not_supported": (ErrorCategory.VALIDATION, False),
    "duplicate_capability": (ErrorCategory.VALIDATION, False),
    # resource
    "not_found": (ErrorCategory.RESOURCE, False),
    "session_not_found": (ErrorCategory.RESOURCE, False),
    "run_not_found": (ErrorCategory.RESOURCE, False),
    "capability_not_found": (ErrorCategory.RESOURCE, False),
    "already_exists": (ErrorCategory.RESOURCE, False),
    # provider
    "provider_error": (ErrorCategory.PROVIDER, False),
    "provider_unavailable": (ErrorCategory.PROVIDER, True),
    "provider_rate_limited": (ErrorCategory.PROVIDER, True),
    "provider_overloaded": (ErrorCategory.PROVIDER, True),
    "provider_timeout": (ErrorCategory.PROVIDER, True),
    "provider_authentication_failed": (ErrorCategory.PROVIDER, False),
    "provider_quota_exceeded": (ErrorCategory.PROVIDER, False),
    "provider_protocol_error": (ErrorCategory.PROVIDER, False),
    # storage
    "storage_error": (ErrorCategory.STORAGE, False),
    "storage_connection_failed": (ErrorCategory.STORAGE, True),
    "storage_write_failed": (ErrorCategory.STORAGE, False),
    "migration_required": (ErrorCategory.STORAGE, False),
    "schema_too_new": (ErrorCategory.STORAGE, False),
    # runtime
    "timeout": (ErrorCategory.RUNTIME, True),
    # waiting for something (a run's result, a drain) took too long; the work itself goes on
    "wait_timeout": (ErrorCategory.RUNTIME, True),
    "server_closed": (ErrorCategory.RUNTIME, False),
    "cancelled": (ErrorCategory.RUNTIME, False),
    "callback_failed": (ErrorCategory.RUNTIME, False),
    "internal_error": (ErrorCategory.RUNTIME, False),
    # concurrency
    "max_sessions_exceeded": (ErrorCategory.CONCURRENCY, True),
    "max_runs_exceeded": (ErrorCategory.CONCURRENCY, True),
    "run_already_active": (ErrorCategory.CONCURRENCY, False),
    # a guarded write found the run in another status than the writer read (someone else moved it)
    "run_state_changed": (ErrorCategory.CONCURRENCY, False),
    # an event was appended to a run that has already ended (its terminal event is written)
    "run_ended": (ErrorCategory.CONCURRENCY, False),
    # the session has a run executing, so it cannot be completed now
    "session_busy": (ErrorCategory.CONCURRENCY, False),
    # tool
    "tool_error": (ErrorCategory.TOOL, False),
    "tool_permission_denied": (ErrorCategory.TOOL, False),
    # policy
    "policy_violation": (ErrorCategory.POLICY, False),
}


class ASMError(Exception):
    """Base of every error the library raises on purpose.

    ``code`` is stable across releases; ``details`` holds structured context (JSON-safe values);
    ``provider_error`` keeps the provider's raw error payload untouched.
    """

    default_code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        provider_error: dict[str, Any] | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        category, default_retryable = ERROR_CODES.get(self.code, (ErrorCategory.RUNTIME, False))
        self.category = category
        self.retryable = default_retryable if retryable is None else retryable
        self.details: dict[str, Any] = dict(details or {})
        self.provider_error = provider_error

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, as stored on a failed run and in ``run_failed`` events."""
        out: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "category": str(self.category),
            "retryable": self.retryable,
        }
        if self.details:
            out["details"] = self.details
        if self.provider_error is not None:
            out["provider_error"] = self.provider_error
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ASMError:
        """Rebuild an error (of the class its code belongs to) from :meth:`to_dict` output."""
        code = str(data.get("code", "internal_error"))
        error_cls = _class_for_code(code)
        return error_cls(
            str(data.get("message", "")),
            code=code,
            details=data.get("details"),
            provider_error=data.get("provider_error"),
            retryable=data.get("retryable"),
        )


class ValidationError(ASMError):
    """Bad input: nothing was written."""

    default_code = "validation_error"


class InvalidTransition(ValidationError):
    """A lifecycle transition that the state machine does not allow."""

    default_code = "invalid_transition"


class NotFoundError(ASMError):
    default_code = "not_found"


class SessionNotFound(NotFoundError):
    default_code = "session_not_found"


class RunNotFound(NotFoundError):
    default_code = "run_not_found"


class ProviderError(ASMError):
    """The provider (agent CLI, SDK or API) failed."""

    default_code = "provider_error"


class StorageError(ASMError):
    default_code = "storage_error"


class RunTimeout(ASMError):
    default_code = "timeout"


class RunCancelled(ASMError):
    default_code = "cancelled"


class ConcurrencyError(ASMError):
    default_code = "max_runs_exceeded"


class ToolError(ASMError):
    default_code = "tool_error"


class PolicyViolation(ASMError):
    default_code = "policy_violation"


_CATEGORY_CLASSES: dict[ErrorCategory, type[ASMError]] = {
    ErrorCategory.VALIDATION: ValidationError,
    ErrorCategory.RESOURCE: NotFoundError,
    ErrorCategory.PROVIDER: ProviderError,
    ErrorCategory.STORAGE: StorageError,
    ErrorCategory.CONCURRENCY: ConcurrencyError,
    ErrorCategory.TOOL: ToolError,
    ErrorCategory.POLICY: PolicyViolation,
}
_CODE_CLASSES: dict[str, type[ASMError]] = {
    "invalid_transition": InvalidTransition,
    "session_not_found": SessionNotFound,
    "run_not_found": RunNotFound,
    "timeout": RunTimeout,
    "cancelled": RunCancelled,
}


def _class_for_code(code: str) -> type[ASMError]:
    if code in _CODE_CLASSES:
        return _CODE_CLASSES[code]
    category = ERROR_CODES.get(code, (ErrorCategory.RUNTIME, False))[0]
    return _CATEGORY_CLASSES.get(category, ASMError)


def error_event_data(error: ASMError) -> dict[str, Any]:
    """The ``data`` of a ``run_failed`` (or ``session_failed``) event for ``error``.

    The one shape every writer of those events uses (manager, session server, provider
    adapters), so a reader never has to guess which fields a failure carries:
    :meth:`ASMError.to_dict` under the event schema's names, ``error_code`` and
    ``error_message``. ``category`` and ``retryable`` are always written; ``details`` only when
    non-empty and ``provider_error`` only when set, as on the run's stored ``error``.
    """
    data = error.to_dict()
    return {"error_code": data.pop("code"), "error_message": data.pop("message"), **data}


def is_retryable(exc: BaseException) -> bool:
    """Whether retrying the operation that raised ``exc`` may succeed.

    Library errors answer with their ``retryable`` flag; anything else is not retryable, because
    an unknown failure repeated is the most common way to burn a budget.
    """
    return isinstance(exc, ASMError) and exc.retryable
