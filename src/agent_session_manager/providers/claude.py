"""The Claude Code adapter: drives the ``claude`` CLI in print mode with its stream-json output.

Each run is one ``claude -p --output-format stream-json --verbose --include-partial-messages``
process (``--resume <session id>`` continues the conversation of an earlier run), spawned through
the shared process module. :class:`ClaudeStreamParser` turns its JSON lines into canonical events
(the Anthropic content blocks and usage it shares with Amp through :mod:`._anthropic_stream`),
handling the CLI's quirks: one API message split over several ``assistant`` lines (one per content
block), per-call usage only in the partial ``stream_event`` lines, ``total_cost_usd`` cumulative
across resumes, and API errors reported as ``subtype: "success"`` with ``is_error: true``. This
module knows the ``claude`` command line and its output; it never imports ``claude-agent-sdk``
and knows nothing of stores or the session manager.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

from agent_session_manager.core.capabilities import CapabilityType
from agent_session_manager.core.errors import ProviderError, error_event_data
from agent_session_manager.core.events import EventType
from agent_session_manager.core.usage import TokenUsage
from agent_session_manager.providers._anthropic_stream import (
    ToolCalls,
    anthropic_usage,
    block_events,
    result_text,
    tool_results,
)
from agent_session_manager.providers._cli_adapter import CLIAdapterBase, flag_args
from agent_session_manager.providers._events import status_error, usage_data
from agent_session_manager.providers._prestart import (
    CLAUDE_PERMISSION_FLAGS,
    MAX_ARG_BYTES,
    claude_argv,
)
from agent_session_manager.providers.protocol import (
    PermissionMode,
    ProviderEvent,
    RunRequest,
)

__all__ = ["PERMISSION_FLAGS", "ClaudeAdapter", "ClaudeStreamParser", "claude_usage"]

#: ``PermissionMode`` → the ``claude`` flags that implement it (see docs/providers.md).
PERMISSION_FLAGS: dict[PermissionMode, tuple[str, ...]] = {
    PermissionMode(mode): flags for mode, flags in CLAUDE_PERMISSION_FLAGS.items()
}

#: An Anthropic ``usage`` object as a ``TokenUsage`` (kept under its first name).
claude_usage = anthropic_usage


class ClaudeStreamParser:
    """Turns ``claude --output-format stream-json`` objects into canonical events (pure).

    ``resumed`` says whether the run continues an earlier session (then ``total_cost_usd``,
    which the CLI reports cumulatively, is not the run's cost).
    """

    def __init__(self, *, resumed: bool = False) -> None:
        self.resumed = resumed
        self._finished = False
        self._tools: ToolCalls = {}
        self._denied: dict[str, str] = {}
        self._usage_reported = TokenUsage()
        self._call_usage: dict[str, Any] = {}
        self._call_stop: str | None = None
        self._turns = 0
        self._api_error: dict[str, Any] | None = None
        self.session_id: str | None = None
        self.model: str | None = None

    @property
    def finished(self) -> bool:
        return self._finished

    def feed(self, obj: dict[str, Any]) -> list[ProviderEvent]:
        kind = obj.get("type")
        if kind == "system":
            return self._system(obj)
        if kind == "stream_event":
            return self._stream_event(obj.get("event") or {})
        if kind == "assistant":
            return self._assistant(obj)
        if kind == "user":
            return self._user(obj)
        if kind == "result":
            return self._result(obj)
        return []

    # -- line kinds --------------------------------------------------------------------------
    def _system(self, obj: dict[str, Any]) -> list[ProviderEvent]:
        subtype = obj.get("subtype")
        if subtype == "init":
            self.session_id = obj.get("session_id")
            self.model = obj.get("model")
            data: dict[str, Any] = {}
            if isinstance(self.session_id, str):
                data["provider_session_id"] = self.session_id
            if isinstance(self.model, str):
                data["model"] = self.model
            if isinstance(obj.get("tools"), list):
                data["tools"] = obj["tools"]
            return [ProviderEvent(EventType.RUN_STARTED, data)]
        if subtype == "permission_denied":
            call_id = obj.get("tool_use_id")
            if isinstance(call_id, str):
                self._denied[call_id] = str(obj.get("message") or "permission denied")
        return []

    def _stream_event(self, event: dict[str, Any]) -> list[ProviderEvent]:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self._call_usage = dict(message.get("usage") or {})
            self._call_stop = None
            return []
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                return [ProviderEvent(EventType.MESSAGE_STREAMED, {"delta": str(delta["text"])})]
            return []
        if kind == "message_delta":
            self._call_usage.update(event.get("usage") or {})
            self._call_stop = (event.get("delta") or {}).get("stop_reason")
            return []
        if kind == "message_stop":
            usage = anthropic_usage(self._call_usage)
            self._usage_reported = self._usage_reported + usage
            self._turns += 1
            turn: dict[str, Any] = {"turn": self._turns}
            if isinstance(self._call_stop, str):
                turn["stop_reason"] = self._call_stop
            return [
                ProviderEvent(EventType.TOKEN_USAGE_UPDATED, usage_data(usage, self.model)),
                ProviderEvent(EventType.TURN_COMPLETED, turn),
            ]
        return []

    def _assistant(self, obj: dict[str, Any]) -> list[ProviderEvent]:
        message = obj.get("message") or {}
        if obj.get("is_api_error_message") or obj.get("api_error_status") is not None:
            # The CLI turns an API error into a synthetic assistant message; the result line
            # that follows fails the run, so the text is kept only as the error's message.
            self._api_error = {
                "status": obj.get("api_error_status"),
                "type": obj.get("api_error_type") or obj.get("error"),
            }
            return []
        events: list[ProviderEvent] = []
        message_id = message.get("id")
        model = message.get("model")
        for block in message.get("content") or []:
            kind = block.get("type")
            if kind == "text":
                data: dict[str, Any] = {"role": "assistant", "content": str(block.get("text", ""))}
                if isinstance(message_id, str):
                    data["message_id"] = message_id
                if isinstance(model, str):
                    data["model"] = model
                events.append(ProviderEvent(EventType.MESSAGE_RECEIVED, data))
            else:
                events.extend(block_events(block, self._tools))
        return events

    def _user(self, obj: dict[str, Any]) -> list[ProviderEvent]:
        content = (obj.get("message") or {}).get("content")
        if not isinstance(content, list):
            return []
        decisions = {
            meta.get("id"): (meta.get("permission_decision") or {}).get("decision")
            for meta in obj.get("tool_result_meta") or []
            if isinstance(meta, dict)
        }
        events = []
        for block, data in tool_results(content, self._tools):
            call_id = data["tool_call_id"]
            output = result_text(block.get("content"))
            data["tool_output"] = output
            if block.get("is_error"):
                denied = call_id in self._denied or decisions.get(call_id) == "reject"
                data["error_message"] = self._denied.get(call_id) or output or "tool failed"
                data["reason"] = "permission_denied" if denied else "tool_error"
                events.append(ProviderEvent(EventType.TOOL_CALL_FAILED, data))
            else:
                events.append(ProviderEvent(EventType.TOOL_CALL_COMPLETED, data))
        return events

    def _result(self, obj: dict[str, Any]) -> list[ProviderEvent]:
        self._finished = True
        events: list[ProviderEvent] = []
        usage = anthropic_usage(obj.get("usage"))
        # Usage not yet reported per call (no partial messages): report the rest now.
        rest = usage.since(self._usage_reported)
        if rest.total_tokens:
            events.append(
                ProviderEvent(EventType.TOKEN_USAGE_UPDATED, usage_data(rest, self.model))
            )
        if obj.get("is_error") or obj.get("subtype") != "success":
            events.append(ProviderEvent(EventType.RUN_FAILED, self._failure(obj)))
            return events
        completion: dict[str, Any] = {
            "stop_reason": str(obj.get("stop_reason") or "end_turn"),
            "token_usage": usage.to_dict(),
        }
        if isinstance(obj.get("result"), str):
            completion["content"] = obj["result"]
        cost = _run_cost(obj, self.resumed)
        if cost is not None:
            completion["cost_usd"] = cost
        events.append(ProviderEvent(EventType.RUN_COMPLETED, completion))
        return events

    def _failure(self, obj: dict[str, Any]) -> dict[str, Any]:
        status = obj.get("api_error_status")
        if status is None and self._api_error is not None:
            status = self._api_error.get("status")
        message = str(obj.get("result") or "") or "; ".join(str(e) for e in obj.get("errors") or [])
        raw = {
            k: obj[k]
            for k in ("subtype", "terminal_reason", "api_error_status", "api_error_type")
            if obj.get(k) is not None
        }
        if isinstance(status, int):
            error = status_error(status, message or f"API error {status}", provider_error=raw)
        else:
            subtype = str(obj.get("subtype") or "error")
            error = ProviderError(
                message or f"claude ended with {subtype}",
                code="provider_error",
                details={"subtype": subtype},
                provider_error=raw,
            )
        return error_event_data(error)


def _run_cost(obj: Mapping[str, Any], resumed: bool) -> float | None:
    since = obj.get("model_usage_since_last_result")
    if isinstance(since, dict) and since:
        costs = [m.get("costUSD") for m in since.values() if isinstance(m, dict)]
        numbers = [float(c) for c in costs if isinstance(c, int | float)]
        if len(numbers) == len(costs):
            return sum(numbers)
    total = obj.get("total_cost_usd")
    if not resumed and isinstance(total, int | float):
        return float(total)
    return None


class ClaudeAdapter(CLIAdapterBase):
    """A ``ProviderAdapter`` running the ``claude`` CLI (Claude Code).

    ``binary`` is the path of ``claude``; without it ``$ASM_CLAUDE_PATH`` is used, else
    ``claude`` on ``PATH``. ``extra_args`` are added to every command line. Options map as
    documented in docs/providers.md; ``options.extra`` entries whose key starts with ``-`` are
    passed as flags (``True``: the flag alone; a list: the flag repeated), ``partial_messages``
    (default ``True``) toggles ``--include-partial-messages`` and ``append_system_prompt`` adds
    ``--append-system-prompt``.
    """

    cli_name = "claude"
    env_var = "ASM_CLAUDE_PATH"
    package = "@anthropic-ai/claude-code"
    capability_types = (CapabilityType.STREAMING, *CLIAdapterBase.capability_types)

    def command(self, request: RunRequest) -> list[str]:
        """The full command line for ``request`` (binary first)."""
        options = request.options
        extra = dict(options.extra)
        partial = bool(extra.pop("partial_messages", True))
        append = extra.pop("append_system_prompt", None)
        return claude_argv(
            self.binary_path(options.env),
            permission_mode=options.permission_mode.value,
            model=options.model,
            max_turns=options.max_turns,
            system_prompt=options.system_prompt,
            allowed_tools=options.allowed_tools,
            denied_tools=options.denied_tools,
            partial_messages=partial,
            append_system_prompt=append if isinstance(append, str) else None,
            resume=request.provider_session_id,
            flags=[*flag_args(extra), *self._extra_args],
            prompt=None if _prompt_on_stdin(request.prompt) else request.prompt,
        )

    async def stream(self, request: RunRequest) -> AsyncIterator[ProviderEvent]:
        options = request.options
        argv = self.command(request)
        parser = ClaudeStreamParser(resumed=request.provider_session_id is not None)
        env = {**os.environ, **options.env}
        stdin = request.prompt.encode() if _prompt_on_stdin(request.prompt) else None
        events = self._runs.stream(
            request.run_id, argv, parser, cwd=options.cwd, env=env, stdin=stdin
        )
        async with contextlib.aclosing(events):  # stops the process when we are closed
            async for event in events:
                yield event


def _prompt_on_stdin(prompt: str) -> bool:
    """Prompts too long for one command-line argument go through stdin (``claude -p`` reads
    its prompt there when none is given)."""
    return len(prompt.encode()) > MAX_ARG_BYTES
