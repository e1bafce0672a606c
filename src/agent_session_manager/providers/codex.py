"""The Codex adapter: drives ``codex exec --json`` (and ``codex exec resume <thread id>``).

Each run is one ``codex exec`` process spawned through the shared process module;
:class:`CodexStreamParser` turns its JSON lines (``thread.started``, ``item.*``,
``turn.completed`` / ``turn.failed``) into canonical events. Codex reports token usage cumulatively
for the whole thread, across resumed processes, so the adapter converts it into per-call deltas
and per-run totals against a baseline: the figures Codex recorded in its rollout file under
``$CODEX_HOME/sessions``, else the thread's last figures this adapter saw. This module knows the
``codex`` command line, its output and its rollout files; it knows nothing of stores or the
session manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import tomllib
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from agent_session_manager.core.errors import ProviderError, ValidationError, error_event_data
from agent_session_manager.core.events import EventType
from agent_session_manager.core.usage import TokenUsage
from agent_session_manager.providers._cli_adapter import CLIAdapterBase, flag_args
from agent_session_manager.providers._events import THINKING_RECEIVED, status_error, usage_data
from agent_session_manager.providers._prestart import MAX_ARG_BYTES, PrestartedProcess
from agent_session_manager.providers.protocol import (
    PermissionMode,
    ProviderEvent,
    RunRequest,
)

__all__ = ["PERMISSION_FLAGS", "CodexAdapter", "CodexStreamParser", "codex_usage", "rollout_usage"]

logger = logging.getLogger(__name__)

#: ``PermissionMode`` → the ``codex exec`` flags that implement it (see docs/providers.md).
#: ``codex exec`` never asks for approval; the sandbox decides what a command may touch.
PERMISSION_FLAGS: dict[PermissionMode, tuple[str, ...]] = {
    PermissionMode.DEFAULT: ("-c", 'sandbox_mode="read-only"'),
    PermissionMode.PLAN: ("-c", 'sandbox_mode="read-only"'),
    PermissionMode.ACCEPT_EDITS: ("-c", 'sandbox_mode="workspace-write"'),
    PermissionMode.FULL_AUTO: ("-c", 'sandbox_mode="danger-full-access"'),
    PermissionMode.DANGEROUSLY_SKIP_PERMISSIONS: ("--dangerously-bypass-approvals-and-sandbox",),
}

_STATUS_RE = re.compile(r"\b(?:status|HTTP)[ :]+(\d{3})\b")
_DENIAL_MARKERS = ("Read-only file system", "Operation not permitted", "Permission denied")


def codex_usage(raw: Mapping[str, Any] | None) -> TokenUsage:
    """A Codex ``usage`` object (``input_tokens`` already counts cached input) as TokenUsage."""
    if not raw:
        return TokenUsage()
    return TokenUsage(
        input_tokens=int(raw.get("input_tokens") or 0),
        output_tokens=int(raw.get("output_tokens") or 0),
        cache_read_tokens=int(raw.get("cached_input_tokens") or 0),
        cache_creation_tokens=int(raw.get("cache_write_input_tokens") or 0),
    )


class CodexStreamParser:
    """Turns ``codex exec --json`` objects into canonical events (pure).

    ``baseline`` is the thread's cumulative usage before this run (zero for a new thread), so
    ``token_usage_updated`` carries deltas and ``run_completed`` this run's totals.
    """

    def __init__(self, *, model: str | None = None, baseline: TokenUsage | None = None) -> None:
        self.model = model
        self.baseline = baseline or TokenUsage()
        self.cumulative = self.baseline
        self.thread_id: str | None = None
        self._finished = False
        self._started: set[str] = set()
        self._last_text: str | None = None
        self._pending_error: str | None = None
        self._turns = 0

    @property
    def finished(self) -> bool:
        return self._finished

    def feed(self, obj: dict[str, Any]) -> list[ProviderEvent]:
        kind = obj.get("type")
        events: list[ProviderEvent] = []
        if kind == "error":
            if self._pending_error is not None:
                events.append(_error_occurred(self._pending_error))
            self._pending_error = str(obj.get("message") or "codex reported an error")
            return events
        if kind == "turn.failed":
            message = str((obj.get("error") or {}).get("message") or self._pending_error or "")
            if self._pending_error is not None and self._pending_error != message:
                events.append(_error_occurred(self._pending_error))
            self._pending_error = None
            self._finished = True
            events.append(ProviderEvent(EventType.RUN_FAILED, _failure(message)))
            return events
        if self._pending_error is not None:  # not followed by turn.failed: it was not fatal
            events.append(_error_occurred(self._pending_error))
            self._pending_error = None
        if kind == "thread.started":
            self.thread_id = str(obj.get("thread_id") or "") or None
            data: dict[str, Any] = {}
            if self.thread_id:
                data["provider_session_id"] = self.thread_id
            if self.model:
                data["model"] = self.model
            events.append(ProviderEvent(EventType.RUN_STARTED, data))
        elif kind == "item.started":
            events += self._item_started(obj.get("item") or {})
        elif kind == "item.completed":
            events += self._item_completed(obj.get("item") or {})
        elif kind == "turn.completed":
            events += self._turn_completed(obj)
        return events

    # -- items -------------------------------------------------------------------------------
    def _item_started(self, item: dict[str, Any]) -> list[ProviderEvent]:
        if item.get("type") in ("agent_message", "reasoning", "error", "todo_list", None):
            return []
        item_id = str(item.get("id", ""))
        self._started.add(item_id)
        name, tool_input = _tool_of(item)
        return [
            ProviderEvent(
                EventType.TOOL_CALL_STARTED,
                {"tool_call_id": item_id, "tool_name": name, "tool_input": tool_input},
            )
        ]

    def _item_completed(self, item: dict[str, Any]) -> list[ProviderEvent]:
        kind = item.get("type")
        item_id = str(item.get("id", ""))
        if kind == "agent_message":
            content = str(item.get("text") or "")
            self._last_text = content
            message = {"role": "assistant", "content": content, "message_id": item_id}
            if self.model:
                message["model"] = self.model
            return [ProviderEvent(EventType.MESSAGE_RECEIVED, message)]
        if kind == "reasoning":
            text = str(item.get("text") or "")
            return [ProviderEvent(THINKING_RECEIVED, {"content": text})] if text else []
        if kind == "error":
            return [_error_occurred(str(item.get("message") or "codex reported an error"))]
        if kind == "todo_list" or kind is None:
            return []
        events = []
        if item_id not in self._started:  # Codex sometimes reports only the completion
            events += self._item_started(item)
        self._started.discard(item_id)
        name, tool_input = _tool_of(item)
        data: dict[str, Any] = {
            "tool_call_id": item_id,
            "tool_name": name,
            "tool_input": tool_input,
        }
        status = item.get("status")
        output: Any = item.get("aggregated_output")
        if kind != "command_execution":
            output = item.get("result", item.get("changes"))
        if output is not None:
            data["tool_output"] = output
        exit_code = item.get("exit_code")
        if exit_code is not None:
            data["exit_code"] = exit_code
        failed = status in ("failed", "declined") or (isinstance(exit_code, int) and exit_code)
        if not failed:
            events.append(ProviderEvent(EventType.TOOL_CALL_COMPLETED, data))
            return events
        text = output if isinstance(output, str) else ""
        denied = status == "declined" or any(m in text for m in _DENIAL_MARKERS)
        if status == "declined":
            data["error_message"] = "the command was declined"
        elif exit_code is not None:
            data["error_message"] = f"command exited with code {exit_code}: {text.strip()[:500]}"
        else:
            error = item.get("error")
            data["error_message"] = str((error or {}).get("message") or f"{name} failed")
        data["reason"] = "permission_denied" if denied else "tool_error"
        events.append(ProviderEvent(EventType.TOOL_CALL_FAILED, data))
        return events

    def _turn_completed(self, obj: dict[str, Any]) -> list[ProviderEvent]:
        cumulative = codex_usage(obj.get("usage"))
        delta = cumulative.since(self.cumulative)
        self.cumulative = cumulative
        self._turns += 1
        self._finished = True
        completion: dict[str, Any] = {
            "stop_reason": "end_turn",
            "token_usage": cumulative.since(self.baseline).to_dict(),
        }
        if self._last_text is not None:
            completion["content"] = self._last_text
        return [
            ProviderEvent(EventType.TOKEN_USAGE_UPDATED, usage_data(delta, self.model)),
            ProviderEvent(
                EventType.TURN_COMPLETED, {"turn": self._turns, "stop_reason": "end_turn"}
            ),
            ProviderEvent(EventType.RUN_COMPLETED, completion),
        ]


def _tool_of(item: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    kind = str(item.get("type"))
    if kind == "command_execution":
        return "command_execution", {"command": item.get("command")}
    if kind == "mcp_tool_call":
        name = f"{item.get('server', 'mcp')}.{item.get('tool', 'tool')}"
        arguments = item.get("arguments")
        return name, dict(arguments) if isinstance(arguments, dict) else {}
    skip = {"id", "type", "status", "aggregated_output", "exit_code", "result", "error"}
    return kind, {k: v for k, v in item.items() if k not in skip}


def _error_occurred(message: str) -> ProviderEvent:
    return ProviderEvent(
        EventType.ERROR_OCCURRED, {"error_code": "provider_error", "error_message": message}
    )


def _failure(message: str) -> dict[str, Any]:
    """``run_failed`` data for a ``turn.failed`` message (a status line or an error body)."""
    status: int | None = None
    provider_error: dict[str, Any] = {"message": message}
    text = message
    match = _STATUS_RE.search(message)
    if match:
        status = int(match.group(1))
    try:
        body = json.loads(message)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        provider_error = body
        text = str(error.get("message") or message)
        # Codex 0.169 reports other statuses as "unexpected status N ...", but a 400 (invalid
        # request) as the bare response body: a body without a status is a 400.
        status = status or 400
    error_obj: ProviderError = (
        status_error(status, text, provider_error=provider_error)
        if status is not None
        else ProviderError(text or "codex turn failed", provider_error=provider_error)
    )
    return error_event_data(error_obj)


class CodexAdapter(CLIAdapterBase):
    """A ``ProviderAdapter`` running the ``codex`` CLI (``codex exec --json``).

    ``binary`` is the path of ``codex``; without it ``$ASM_CODEX_PATH`` is used, else ``codex``
    on ``PATH``. Codex reads its model provider from ``$CODEX_HOME/config.toml`` (pass
    ``CODEX_HOME`` in ``options.env``). ``options.extra`` entries whose key starts with ``-`` are
    passed as flags (``{"--skip-git-repo-check": True}``); ``config`` (a mapping) becomes
    ``-c key=value`` overrides. ``allowed_tools`` / ``denied_tools`` are refused (Codex has no
    such switch) and ``max_turns`` is not enforced (one ``exec`` is one turn).
    """

    cli_name = "codex"
    env_var = "ASM_CODEX_PATH"
    package = "@openai/codex"

    def __init__(
        self,
        binary: str | None = None,
        *,
        name: str | None = None,
        extra_args: Sequence[str] = (),
        prestarted: PrestartedProcess | None = None,
    ) -> None:
        super().__init__(binary, name=name, extra_args=extra_args, prestarted=prestarted)
        self._thread_usage: dict[str, TokenUsage] = {}

    def command(self, request: RunRequest) -> list[str]:
        """The full command line for ``request`` (binary first)."""
        options = request.options
        if options.allowed_tools or options.denied_tools:
            raise ValidationError(
                "codex exec has no tool allow/deny list: allowed_tools and denied_tools are "
                "not supported by the codex adapter (use permission_mode to limit it)"
            )
        argv = [self.binary_path(options.env), "exec", "--json"]
        argv += PERMISSION_FLAGS[options.permission_mode]
        if options.model:
            argv += ["-m", options.model]
        if options.system_prompt is not None:
            argv += ["-c", f"developer_instructions={json.dumps(options.system_prompt)}"]
        extra = dict(options.extra)
        config = extra.pop("config", None)
        if isinstance(config, Mapping):
            for key, value in config.items():
                argv += ["-c", f"{key}={json.dumps(value)}"]
        argv += flag_args(extra)
        argv += self._extra_args
        if request.provider_session_id:
            argv += ["resume", request.provider_session_id]
        long_prompt = len(request.prompt.encode()) > MAX_ARG_BYTES
        argv += ["-"] if long_prompt else ["--", request.prompt]  # "-": read it from stdin
        return argv

    async def stream(self, request: RunRequest) -> AsyncIterator[ProviderEvent]:
        options = request.options
        if options.max_turns is not None:
            logger.debug(
                "codex exec runs one turn; max_turns=%s is not enforced", options.max_turns
            )
        argv = self.command(request)
        env = {**os.environ, **options.env}
        codex_home = _codex_home(env)
        baseline = TokenUsage()
        thread = request.provider_session_id
        if thread:
            # Codex's own record first (another process may have resumed the thread since we
            # last saw it), else what this adapter saw last.
            recorded = await asyncio.to_thread(rollout_usage, codex_home, thread)
            known = self._thread_usage.get(thread)
            baseline = recorded if recorded.total_tokens or known is None else known
        # config.toml is a file read: off the event loop, like the rollout above.
        model = options.model or await asyncio.to_thread(
            _configured_model, codex_home, options.extra
        )
        parser = CodexStreamParser(model=model, baseline=baseline)
        stdin = request.prompt.encode() if argv[-1] == "-" else None
        events = self._runs.stream(
            request.run_id, argv, parser, cwd=options.cwd, env=env, stdin=stdin
        )
        try:
            async with contextlib.aclosing(events):  # stops the process when we are closed
                async for event in events:
                    yield event
        finally:
            if parser.thread_id:
                self._thread_usage[parser.thread_id] = parser.cumulative


def _codex_home(env: Mapping[str, str]) -> Path:
    if env.get("CODEX_HOME"):
        return Path(env["CODEX_HOME"])
    return Path(env.get("HOME") or Path.home()) / ".codex"


def _configured_model(codex_home: Path, extra: Mapping[str, Any]) -> str | None:
    config = extra.get("config")
    if isinstance(config, Mapping) and isinstance(config.get("model"), str):
        return str(config["model"])
    try:
        with (codex_home / "config.toml").open("rb") as handle:
            model = tomllib.load(handle).get("model")
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return model if isinstance(model, str) else None


def rollout_usage(codex_home: str | Path, thread_id: str) -> TokenUsage:
    """The thread's cumulative usage as Codex last recorded it in its rollout file (zero when
    there is none): the baseline for a resumed run's deltas."""
    sessions = Path(codex_home) / "sessions"
    if not re.fullmatch(r"[0-9A-Za-z-]+", thread_id) or not sessions.is_dir():
        return TokenUsage()
    files = sorted(sessions.glob(f"*/*/*/rollout-*-{thread_id}.jsonl"))
    latest = TokenUsage()
    for path in files:
        try:
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    if '"token_count"' not in line:
                        continue
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue
                    info = (record.get("payload") or {}).get("info") or {}
                    total = info.get("total_token_usage")
                    if isinstance(total, dict):
                        latest = codex_usage(total)
        except OSError:
            continue
    return latest
