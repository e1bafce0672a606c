"""The Amp adapter: drives the ``amp`` CLI in execute mode with its stream-json output.

Each run is one ``amp -x <prompt> --stream-json`` process (``amp threads continue <thread id> -x
...`` continues the thread of an earlier run: native resume with the ``T-...`` thread id as the
provider handle), spawned through the shared process module. :class:`AmpStreamParser` turns
its JSON lines into canonical events. The format is "Claude Code-compatible" (content blocks, tool
results and usage are parsed by :mod:`._anthropic_stream`, as for Claude) but thinner: one
``assistant`` line holds every block of one model reply with that call's final usage, Bash tool
results are a JSON string ``{"output", "exitCode"}``, the ``result`` line carries no usage or
cost (the run's usage is the sum of its replies), and model errors come back as a ``result`` with
``is_error: true`` and exit code 0. The thread id is stable, so usage is per run by construction.
This module knows the ``amp`` command line and its output; it knows nothing of stores or the
session manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import tempfile
from collections.abc import AsyncIterator, Mapping
from typing import Any

from agent_session_manager.core.errors import ProviderError, ValidationError, error_event_data
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
from agent_session_manager.providers._prestart import MAX_ARG_BYTES
from agent_session_manager.providers.protocol import (
    AdapterOptions,
    PermissionMode,
    ProviderEvent,
    RunRequest,
)

__all__ = ["PERMISSION_FLAGS", "AmpAdapter", "AmpStreamParser", "permission_settings"]

logger = logging.getLogger(__name__)

#: ``PermissionMode`` → the ``amp`` flags that implement it (see docs/providers.md). Amp has no
#: plan mode (refused) and no accept-edits switch (its own permission rules apply).
PERMISSION_FLAGS: dict[PermissionMode, tuple[str, ...]] = {
    PermissionMode.DEFAULT: (),
    PermissionMode.ACCEPT_EDITS: (),
    PermissionMode.FULL_AUTO: ("--dangerously-allow-all",),
    PermissionMode.DANGEROUSLY_SKIP_PERMISSIONS: ("--dangerously-allow-all",),
}

_STATUS_RE = re.compile(r"^\s*(\d{3})\b")
_TEXT_STATUS = (("overloaded", 529), ("rate limit", 429), ("unauthorized", 401))


class AmpStreamParser:
    """Turns ``amp --stream-json`` objects into canonical events (pure)."""

    def __init__(self) -> None:
        self._finished = False
        self._tools: ToolCalls = {}
        self._usage = TokenUsage()
        self._turns = 0
        self._last_text: str | None = None
        self.session_id: str | None = None

    @property
    def finished(self) -> bool:
        return self._finished

    def feed(self, obj: dict[str, Any]) -> list[ProviderEvent]:
        kind = obj.get("type")
        if kind == "system" and obj.get("subtype") == "init":
            self.session_id = obj.get("session_id")
            data: dict[str, Any] = {}
            if isinstance(self.session_id, str):
                data["provider_session_id"] = self.session_id
            if isinstance(obj.get("tools"), list):
                data["tools"] = obj["tools"]
            return [ProviderEvent(EventType.RUN_STARTED, data)]
        if kind == "assistant":
            return self._assistant(obj.get("message") or {})
        if kind == "user":
            return self._user(obj.get("message") or {})
        if kind == "result":
            return self._result(obj)
        return []

    def _assistant(self, message: dict[str, Any]) -> list[ProviderEvent]:
        events: list[ProviderEvent] = []
        model = message.get("model")
        for block in message.get("content") or []:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text":
                content = str(block.get("text", ""))
                self._last_text = content
                data: dict[str, Any] = {"role": "assistant", "content": content}
                if isinstance(model, str):
                    data["model"] = model
                events.append(ProviderEvent(EventType.MESSAGE_RECEIVED, data))
            else:
                events.extend(block_events(block, self._tools))
        usage = anthropic_usage(message.get("usage"))
        if usage.total_tokens:
            self._usage = self._usage + usage
            data = usage_data(usage, None)
            if isinstance(model, str):
                data["model"] = model
            events.append(ProviderEvent(EventType.TOKEN_USAGE_UPDATED, data))
        self._turns += 1
        turn: dict[str, Any] = {"turn": self._turns}
        if isinstance(message.get("stop_reason"), str):
            turn["stop_reason"] = message["stop_reason"]
        events.append(ProviderEvent(EventType.TURN_COMPLETED, turn))
        return events

    def _user(self, message: dict[str, Any]) -> list[ProviderEvent]:
        events = []
        for block, data in tool_results(message.get("content"), self._tools):
            output, exit_code = _tool_output(block.get("content"))
            data["tool_output"] = output
            if exit_code is not None:
                data["exit_code"] = exit_code
            if block.get("is_error"):
                text = output if isinstance(output, str) else json.dumps(output)
                data["error_message"] = text or "tool failed"
                rejected = "reject" in text.lower() or "permission" in text.lower()
                data["reason"] = "permission_denied" if rejected else "tool_error"
                events.append(ProviderEvent(EventType.TOOL_CALL_FAILED, data))
            else:
                events.append(ProviderEvent(EventType.TOOL_CALL_COMPLETED, data))
        return events

    def _result(self, obj: dict[str, Any]) -> list[ProviderEvent]:
        self._finished = True
        if obj.get("is_error") or obj.get("subtype") != "success":
            return [ProviderEvent(EventType.RUN_FAILED, _failure(obj))]
        completion: dict[str, Any] = {
            "stop_reason": "end_turn",
            "token_usage": self._usage.to_dict(),
        }
        result = obj.get("result")
        if isinstance(result, str):
            completion["content"] = result
        elif self._last_text is not None:
            completion["content"] = self._last_text
        if isinstance(obj.get("num_turns"), int):
            completion["turn_count"] = obj["num_turns"]
        return [ProviderEvent(EventType.RUN_COMPLETED, completion)]


def _tool_output(content: Any) -> tuple[Any, int | None]:
    """A tool result's output (Bash's ``{"output", "exitCode"}`` JSON string unpacked)."""
    if isinstance(content, list):
        content = result_text(content)
    if isinstance(content, str) and content.startswith("{"):
        try:
            value = json.loads(content)
        except ValueError:
            return content, None
        if isinstance(value, dict) and "output" in value:
            code = value.get("exitCode")
            return value["output"], code if isinstance(code, int) else None
        return value, None
    return content, None


def _failure(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``run_failed`` data for an error ``result`` (``"400 {body}"`` or a plain message)."""
    message = str(obj.get("error") or obj.get("result") or "") or "amp reported an error"
    raw = {k: obj[k] for k in ("subtype", "error", "result") if obj.get(k) is not None}
    status: int | None = None
    text = message
    match = _STATUS_RE.match(message)
    if match:
        status = int(match.group(1))
        body_text = message[match.end() :].strip()
        with contextlib.suppress(ValueError):
            body = json.loads(body_text)
            if isinstance(body, dict) and isinstance(body.get("error"), dict):
                text = str(body["error"].get("message") or message)
                raw["body"] = body
    else:
        lowered = message.lower()
        status = next((code for word, code in _TEXT_STATUS if word in lowered), None)
    error = (
        status_error(status, text, provider_error=raw)
        if status is not None
        else ProviderError(text, code="provider_error", provider_error=raw)
    )
    return error_event_data(error)


class AmpAdapter(CLIAdapterBase):
    """A ``ProviderAdapter`` running the ``amp`` CLI (``amp -x --stream-json``).

    ``binary`` is the path of ``amp``; without it ``$ASM_AMP_PATH`` is used, else ``amp`` on
    ``PATH``. Amp reads ``AMP_URL`` / ``AMP_API_KEY`` from the environment (``options.env``
    passes them). ``options.extra``: ``mode`` (Amp's agent mode: ``free``, ``rush``, ``smart``)
    and flags whose key starts with ``-``. ``model`` and ``system_prompt`` are refused (Amp picks
    its model by mode and has no system prompt switch), ``plan`` mode is refused (no such mode),
    ``allowed_tools`` / ``denied_tools`` become ``amp.permissions`` allow / reject rules in a
    temporary copy of the user's settings file (``--settings-file``), and ``max_turns`` is not
    enforced.
    """

    cli_name = "amp"
    env_var = "ASM_AMP_PATH"
    package = "@sourcegraph/amp"

    def command(self, request: RunRequest, settings_file: str | None = None) -> list[str]:
        """The full command line for ``request`` (binary first); ``settings_file`` is the Amp
        settings file carrying the run's tool rules (see :func:`permission_settings`)."""
        options = request.options
        if options.permission_mode is PermissionMode.PLAN:
            raise ValidationError("amp has no plan mode: permission_mode=plan is refused")
        if options.model:
            raise ValidationError(
                "amp picks its model by agent mode: use options.extra['mode'] instead of model"
            )
        if options.system_prompt is not None:
            raise ValidationError("amp has no system prompt switch: system_prompt is refused")
        argv = [self.binary_path(options.env)]
        if request.provider_session_id:
            argv += ["threads", "continue", request.provider_session_id]
        prompt = [] if _prompt_on_stdin(request.prompt) else [request.prompt]
        argv += ["-x", *prompt, "--stream-json"]
        if not options.denied_tools:  # the flag would override the reject rules
            argv += PERMISSION_FLAGS[options.permission_mode]
        extra = dict(options.extra)
        mode = extra.pop("mode", None)
        if isinstance(mode, str):
            argv += ["--mode", mode]
        argv += flag_args(extra)
        if settings_file is not None:
            argv += ["--settings-file", settings_file]
        argv += self._extra_args
        return argv

    async def stream(self, request: RunRequest) -> AsyncIterator[ProviderEvent]:
        options = request.options
        if options.max_turns is not None:
            logger.debug("amp has no turn limit; max_turns=%s is not enforced", options.max_turns)
        env = {**os.environ, **options.env}
        argv = self.command(request)  # refuses unsupported options before anything is written
        settings: str | None = None
        if options.allowed_tools or options.denied_tools:
            settings = await asyncio.to_thread(permission_settings, options, env)
        try:
            if settings is not None:
                argv = self.command(request, settings)
            parser = AmpStreamParser()
            stdin = request.prompt.encode() if _prompt_on_stdin(request.prompt) else None
            events = self._runs.stream(
                request.run_id, argv, parser, cwd=options.cwd, env=env, stdin=stdin
            )
            async with contextlib.aclosing(events):  # stops the process when we are closed
                async for event in events:
                    yield event
        finally:
            if settings is not None:
                with contextlib.suppress(OSError):
                    os.unlink(settings)


def _prompt_on_stdin(prompt: str) -> bool:
    """Prompts that look like an option, or are too long for one command-line argument, go
    through stdin (``amp -x`` reads its prompt there when none is given)."""
    return prompt.startswith("-") or len(prompt.encode()) > MAX_ARG_BYTES


def permission_settings(options: AdapterOptions, env: Mapping[str, str]) -> str:
    """A temporary Amp settings file: the user's settings (``--settings-file`` in
    ``options.extra``, ``$AMP_SETTINGS_FILE`` or ``~/.config/amp/settings.json``) with
    ``amp.permissions`` rules in front that reject ``denied_tools`` and allow ``allowed_tools``
    (Amp applies the first matching rule). In the allow-all modes a final ``*`` allow rule
    stands in for ``--dangerously-allow-all``, which would override the reject rules. The
    caller deletes the file."""
    given = options.extra.get("--settings-file") or env.get("AMP_SETTINGS_FILE")
    if not given:
        config = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME") or "~", ".config")
        given = os.path.join(os.path.expanduser(config), "amp", "settings.json")
    settings: dict[str, Any] = {}
    try:
        with open(str(given), encoding="utf-8") as source:
            loaded = json.load(source)
        if isinstance(loaded, dict):
            settings = loaded
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        raise ValidationError(
            f"cannot add allowed_tools/denied_tools to the Amp settings in {given}: {exc}"
        ) from exc
    rules = [{"tool": tool, "action": "reject"} for tool in options.denied_tools]
    rules += [{"tool": tool, "action": "allow"} for tool in options.allowed_tools]
    if PERMISSION_FLAGS[options.permission_mode]:  # allow-all, minus the denied tools
        rules.append({"tool": "*", "action": "allow"})
    existing = settings.get("amp.permissions")
    settings["amp.permissions"] = rules + (existing if isinstance(existing, list) else [])
    fd, path = tempfile.mkstemp(prefix="asm-amp-settings-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(settings, out)
    return path
