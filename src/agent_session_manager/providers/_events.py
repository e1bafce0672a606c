"""What the adapters share about the events they produce: the names of the custom event types
more than one adapter emits, ``token_usage_updated`` data from a model call's usage, and the
``ProviderError`` for an HTTP status a model API answered.

Used by every adapter that parses a model's output (the CLI adapters and ACP). Pure: no I/O, no
process, no particular provider's wire format.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent_session_manager.core.errors import ProviderError

if TYPE_CHECKING:
    from agent_session_manager.core.usage import TokenUsage

#: Custom (non-canonical) event types the adapters emit; each is listed in docs/providers.md.
#: A reasoning block's text (Claude, Amp, Codex, ACP agents): data ``{"content": str}``.
THINKING_RECEIVED = "thinking_received"
#: An ACP agent's plan: data ``{"entries": [...]}``.
PLAN_UPDATED = "plan_updated"
#: How full an ACP agent's context window is (``used``, ``size``), not a token count.
CONTEXT_USAGE_UPDATED = "context_usage_updated"


def status_error(
    status: int | None,
    message: str,
    *,
    provider_error: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> ProviderError:
    """A ``ProviderError`` for an HTTP status the model API answered (code and ``retryable``
    follow the status: 400 is final, 429/5xx/529 overloaded may succeed later)."""
    code = _STATUS_CODES.get(status or 0)
    if code is None:
        code = "provider_unavailable" if status is not None and status >= 500 else "provider_error"
    extra = dict(details or {})
    if status is not None:
        extra["http_status"] = status
    return ProviderError(message, code=code, details=extra, provider_error=provider_error)


_STATUS_CODES = {
    400: "provider_error",
    401: "provider_authentication_failed",
    403: "provider_authentication_failed",
    404: "provider_error",
    408: "provider_timeout",
    413: "provider_error",
    422: "provider_error",
    429: "provider_rate_limited",
    500: "provider_unavailable",
    502: "provider_unavailable",
    503: "provider_overloaded",
    504: "provider_timeout",
    529: "provider_overloaded",
}


def usage_data(usage: TokenUsage, model: str | None) -> dict[str, Any]:
    """``token_usage_updated`` data for one model call's ``usage`` (and ``model``, if any)."""
    data: dict[str, Any] = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_creation_tokens": usage.cache_creation_tokens,
    }
    if model:
        data["model"] = model
    return data
