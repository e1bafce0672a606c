"""The ACP adapter: drives any agent that speaks the Agent Client Protocol over stdio.

Each run starts the agent command (``claude-code-acp``, ``codex-acp``, ``gemini --acp``, ...) in
its own process group through the shared process module and talks JSON-RPC to it with the
``agent-client-protocol`` package (imported lazily, only when a run starts; without the ``acp``
extra the run fails with ``MissingDependency`` naming the install command): ``initialize``, then
``session/new`` (or ``session/load`` with the ACP session id kept as the provider handle, for
native resume), an optional ``session/set_mode`` for the permission mode, and ``session/prompt``.
:class:`ACPUpdateParser` turns the ``session/update`` notifications (agent message and thought
chunks, tool calls and their updates, plans, usage) into canonical events; permission requests
are answered from ``permission_mode`` / ``allowed_tools`` / ``denied_tools`` (a denial becomes a
failed tool call with reason ``permission_denied``). Cancel sends ``session/cancel`` and then
stops the process group. This module knows ACP's wire shapes and the ``acp`` package; it knows
nothing of stores or the session manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shlex
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from agent_session_manager.core.capabilities import Capability, CapabilityType
from agent_session_manager.core.errors import ProviderError, ValidationError
from agent_session_manager.core.events import EventType
from agent_session_manager.core.extras import install_hint
from agent_session_manager.core.usage import TokenUsage
from agent_session_manager.providers._events import (
    CONTEXT_USAGE_UPDATED,
    PLAN_UPDATED,
    THINKING_RECEIVED,
    status_error,
    usage_data,
)
from agent_session_manager.providers._process import CLIProcess
from agent_session_manager.providers.protocol import (
    AdapterOptions,
    PermissionMode,
    ProviderEvent,
    RunRequest,
)

if TYPE_CHECKING:
    from acp.client.connection import ClientSideConnection

__all__ = [
    "CANCEL_GRACE_S",
    "MODE_PREFERENCES",
    "SETUP_TIMEOUT_S",
    "ACPAdapter",
    "ACPUpdateParser",
    "decide_permission",
    "session_model",
]

logger = logging.getLogger(__name__)

#: ``PermissionMode`` → the agent session modes tried, in order (the first the agent offers is
#: set with ``session/set_mode``; none offered: the agent's default mode is kept). Permission
#: requests are answered by :func:`decide_permission` whatever the mode.
MODE_PREFERENCES: dict[PermissionMode, tuple[str, ...]] = {
    PermissionMode.DEFAULT: (),
    PermissionMode.ACCEPT_EDITS: ("acceptEdits", "auto"),
    PermissionMode.PLAN: ("plan", "read-only"),
    PermissionMode.FULL_AUTO: ("full-access",),
    PermissionMode.DANGEROUSLY_SKIP_PERMISSIONS: ("bypassPermissions", "full-access"),
}
#: Tool kinds ``accept_edits`` approves without asking (file changes and reads, not commands).
_EDIT_KINDS = frozenset({"read", "edit", "delete", "move", "search", "think"})
#: Seconds the agent gets to end a cancelled prompt before its process group is stopped.
CANCEL_GRACE_S = 0.3
#: Seconds allowed for ``initialize`` / ``session/new`` / ``session/load``.
SETUP_TIMEOUT_S = 60.0
_INTERNAL_ERROR = -32603
#: Error types in an API error body (``{"error": {"type": ...}}``) → the HTTP status they stand for.
_ERROR_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}
_STATUS_RE = re.compile(r"\b(?:API Error|status|HTTP)[: ]+(\d{3})\b")


def decide_permission(
    options: AdapterOptions, tool_name: str, kind: str | None
) -> tuple[bool, str | None]:
    """Whether to approve a tool call the agent asks about, and the reason when not.

    ``denied_tools`` always wins, then ``allowed_tools``; otherwise ``full_auto`` and
    ``dangerously_skip_permissions`` approve everything, ``accept_edits`` approves file edits
    and reads (not commands), and ``default`` / ``plan`` deny (a run has no one to ask).
    """
    if tool_name in options.denied_tools or (kind is not None and kind in options.denied_tools):
        return False, f"{tool_name} is in denied_tools"
    if tool_name in options.allowed_tools or (kind is not None and kind in options.allowed_tools):
        return True, None
    mode = options.permission_mode
    if mode in (PermissionMode.FULL_AUTO, PermissionMode.DANGEROUSLY_SKIP_PERMISSIONS):
        return True, None
    if mode is PermissionMode.ACCEPT_EDITS and kind in _EDIT_KINDS:
        return True, None
    return False, (
        f"permission to use {tool_name} denied: permission_mode={mode.value} does not approve it "
        "and it is not in allowed_tools"
    )


def _text_of(content: Any) -> str:
    """The text of an ACP content block, or of a tool call's ``content`` list."""
    if isinstance(content, dict):
        if content.get("type") == "text":
            return str(content.get("text") or "")
        if content.get("type") == "content":
            return _text_of(content.get("content"))
        if content.get("type") == "diff":
            return f"diff {content.get('path', '')}"
        return ""
    if isinstance(content, list):
        return "".join(_text_of(item) for item in content)
    return ""


class _Call:
    __slots__ = ("done", "id", "input", "kind", "name", "started", "title")

    def __init__(self, call_id: str) -> None:
        self.id = call_id
        self.name = "tool"
        self.kind: str | None = None
        self.title: str | None = None
        self.input: dict[str, Any] = {}
        self.started = False
        self.done = False

    def fields(self) -> dict[str, Any]:
        """The ``tool_call_id`` / ``tool_name`` / ``tool_input`` fields of its events."""
        return {"tool_call_id": self.id, "tool_name": self.name, "tool_input": self.input}


class ACPUpdateParser:
    """Turns ACP ``session/update`` payloads (wire JSON) into canonical events (pure).

    Feed :meth:`started` once the session is known, :meth:`update` for each update of the
    prompt, :meth:`denied` when the client refused a permission request, and :meth:`finish`
    with the ``session/prompt`` response.
    """

    def __init__(self) -> None:
        self._finished = False
        self._calls: dict[str, _Call] = {}
        self._text: list[str] = []
        self._thought: list[str] = []
        self._last_text: str | None = None
        self.session_id: str | None = None
        self.model: str | None = None
        #: Permission requests the client refused during this prompt.
        self.denials = 0

    @property
    def finished(self) -> bool:
        return self._finished

    def started(self, session_id: str, model: str | None = None) -> list[ProviderEvent]:
        self.session_id = session_id
        self.model = model
        data: dict[str, Any] = {"provider_session_id": session_id}
        if model:
            data["model"] = model
        return [ProviderEvent(EventType.RUN_STARTED, data)]

    def update(self, update: Mapping[str, Any]) -> list[ProviderEvent]:
        kind = update.get("sessionUpdate")
        if kind == "agent_message_chunk":
            text = _text_of(update.get("content"))
            if not text:
                return []
            events = self._flush_thought()
            self._text.append(text)
            return [*events, ProviderEvent(EventType.MESSAGE_STREAMED, {"delta": text})]
        if kind == "agent_thought_chunk":
            text = _text_of(update.get("content"))
            if text:
                events = self._flush_text()
                self._thought.append(text)
                return events
            return []
        if kind in ("tool_call", "tool_call_update"):
            return self._tool(update)
        if kind == "plan":
            entries = update.get("entries")
            return [ProviderEvent(PLAN_UPDATED, {"entries": entries or []})]
        if kind == "usage_update":
            data = {k: update[k] for k in ("used", "size", "cost") if update.get(k) is not None}
            return [ProviderEvent(CONTEXT_USAGE_UPDATED, data)]
        return []  # user_message_chunk, available_commands_update, modes, config, session info

    def tool_of(self, call_id: str) -> tuple[str | None, str | None]:
        """The name and ACP kind of a tool call seen so far (``None`` when unknown)."""
        call = self._calls.get(call_id)
        return (call.name, call.kind) if call is not None else (None, None)

    def denied(self, tool_call: Mapping[str, Any], reason: str) -> list[ProviderEvent]:
        """The client refused the agent's permission request for ``tool_call``."""
        call_id = str(tool_call.get("toolCallId") or "")
        self.denials += 1
        events = self._tool(tool_call, status=None)
        call = self._calls[call_id]
        if not call.done:
            events.append(self._fail(call, reason, "permission_denied"))
        return events

    def finish(self, response: Mapping[str, Any]) -> list[ProviderEvent]:
        """The events for the ``session/prompt`` response (``stopReason``, optional usage)."""
        self._finished = True
        events = [*self._flush_thought(), *self._flush_text()]
        for call in self._calls.values():
            if call.done or not (call.started or call.input):
                continue
            # Started (or announced with its input) but never reported finished: codex-acp does
            # that for a command its sandbox could not run. Every started call gets an end.
            if not call.started:
                events.append(self._start(call))
            message = "the agent ended the turn without reporting the outcome"
            events.append(self._fail(call, message, "no_result"))
        stop = str(response.get("stopReason") or "end_turn")
        if stop == "cancelled":
            events.append(ProviderEvent(EventType.RUN_CANCELLED, {"reason": "agent cancelled"}))
            return events
        usage = _usage(response.get("usage"))
        if usage is not None:
            events.append(
                ProviderEvent(EventType.TOKEN_USAGE_UPDATED, usage_data(usage, self.model))
            )
        events.append(ProviderEvent(EventType.TURN_COMPLETED, {"turn": 1, "stop_reason": stop}))
        completion: dict[str, Any] = {"stop_reason": stop}
        if self._last_text is not None:
            completion["content"] = self._last_text
        if usage is not None:
            completion["token_usage"] = usage.to_dict()
        events.append(ProviderEvent(EventType.RUN_COMPLETED, completion))
        return events

    # -- helpers -----------------------------------------------------------------------------
    def _flush_text(self) -> list[ProviderEvent]:
        if not self._text:
            return []
        content = "".join(self._text)
        self._text.clear()
        self._last_text = content
        data: dict[str, Any] = {"role": "assistant", "content": content}
        if self.model:
            data["model"] = self.model
        return [ProviderEvent(EventType.MESSAGE_RECEIVED, data)]

    def _flush_thought(self) -> list[ProviderEvent]:
        if not self._thought:
            return []
        content = "".join(self._thought)
        self._thought.clear()
        return [ProviderEvent(THINKING_RECEIVED, {"content": content})]

    def _start(self, call: _Call) -> ProviderEvent:
        call.started = True
        return ProviderEvent(EventType.TOOL_CALL_STARTED, call.fields())

    def _fail(self, call: _Call, message: str, reason: str) -> ProviderEvent:
        """End ``call`` as failed without an outcome from the agent."""
        call.done = True
        return ProviderEvent(
            EventType.TOOL_CALL_FAILED,
            {**call.fields(), "error_message": message, "reason": reason},
        )

    def _tool(self, update: Mapping[str, Any], status: Any = "") -> list[ProviderEvent]:
        call_id = str(update.get("toolCallId") or "")
        call = self._calls.get(call_id)
        if call is None:
            call = self._calls[call_id] = _Call(call_id)
        if call.done:
            return []
        meta = update.get("_meta")
        tool_name = ((meta or {}).get("claudeCode") or {}).get("toolName") if meta else None
        if isinstance(tool_name, str) and tool_name:
            call.name = tool_name
        if isinstance(update.get("kind"), str):
            call.kind = update["kind"]
            if call.name == "tool":
                call.name = call.kind or "tool"
        if isinstance(update.get("title"), str):
            call.title = update["title"]
        raw_input = update.get("rawInput")
        if isinstance(raw_input, dict) and raw_input and not call.started:
            call.input = dict(raw_input)
        status = update.get("status") if status == "" else status
        events = self._flush_thought() + self._flush_text()
        if not call.started and (call.input or status in ("in_progress", "completed", "failed")):
            events.append(self._start(call))
        if status not in ("completed", "failed"):
            return events
        if not call.started:
            events.append(self._start(call))
        call.done = True
        data = call.fields()
        raw_output = update.get("rawOutput")
        text = _text_of(update.get("content"))
        output: Any = raw_output if raw_output is not None else text
        data["tool_output"] = output
        if status == "completed":
            events.append(ProviderEvent(EventType.TOOL_CALL_COMPLETED, data))
        else:
            message = text or (raw_output if isinstance(raw_output, str) else "") or "tool failed"
            data["error_message"] = message
            data["reason"] = "tool_error"
            events.append(ProviderEvent(EventType.TOOL_CALL_FAILED, data))
        return events


def _usage(raw: Any) -> TokenUsage | None:
    if not isinstance(raw, dict):
        return None
    cache_read = int(raw.get("cachedReadTokens") or 0)
    cache_write = int(raw.get("cachedWriteTokens") or 0)
    return TokenUsage(
        input_tokens=int(raw.get("inputTokens") or 0),
        output_tokens=int(raw.get("outputTokens") or 0),
        cache_read_tokens=cache_read,
        cache_creation_tokens=cache_write,
    )


def _wire(value: Any) -> Any:
    """An ``acp.schema`` model (or a list of them) as its JSON wire form (camelCase keys)."""
    if isinstance(value, list):
        return [_wire(item) for item in value]
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump(mode="json", by_alias=True, exclude_none=True)
    return value


class _ProcessTransport:
    """A message transport for ``acp`` over the agent's stdio (newline-delimited JSON).

    A line that is not a JSON object ends the stream and is kept as :attr:`error`.
    """

    def __init__(self, process: CLIProcess) -> None:
        self._process = process
        self.error: ProviderError | None = None

    async def send(self, message: dict[str, Any]) -> None:
        stdin = self._process.process.stdin
        if stdin is None or stdin.is_closing():
            raise ConnectionError("the agent's stdin is closed")
        stdin.write(orjson.dumps(message) + b"\n")
        await stdin.drain()

    async def receive(self) -> dict[str, Any] | None:
        stdout = self._process.process.stdout
        assert stdout is not None
        while True:
            try:
                raw = await stdout.readline()
            except (ValueError, asyncio.LimitOverrunError):
                self.error = self._process.protocol_error("stdout line too long")
                return None
            if not raw:
                return None
            line = raw.strip()
            if not line:
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                self.error = self._process.protocol_error(
                    f"malformed JSON-RPC line: {exc}", line=line
                )
                return None
            if not isinstance(value, dict):
                self.error = self._process.protocol_error(
                    "JSON-RPC line is not an object", line=line
                )
                return None
            return value

    async def close(self) -> None:
        stdin = self._process.process.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.close()


class _Client:
    """The ACP client side of one run: queues parsed events and answers permission requests."""

    def __init__(self, options: AdapterOptions, parser: ACPUpdateParser) -> None:
        self.options = options
        self.parser = parser
        self.events: asyncio.Queue[list[ProviderEvent] | None] = asyncio.Queue()
        #: Updates before the prompt (a ``session/load`` replaying history) are not this run's.
        self.live = False

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        if not self.live:
            return
        wire = _wire(update)
        if isinstance(wire, dict):
            self.events.put_nowait(self.parser.update(wire))

    async def request_permission(
        self, session_id: str, tool_call: Any, options: Any, **kwargs: Any
    ) -> dict[str, Any]:
        call = _wire(tool_call)
        choices = [o for o in _wire(options) if isinstance(o, dict)]
        call = call if isinstance(call, dict) else {}
        known_name, known_kind = self.parser.tool_of(str(call.get("toolCallId") or ""))
        meta = ((call.get("_meta") or {}).get("claudeCode") or {}).get("toolName")
        name = meta or known_name or call.get("kind") or "tool"
        kind = call.get("kind") or known_kind
        allowed, reason = decide_permission(self.options, str(name), kind)
        wanted = ("allow_once", "allow_always") if allowed else ("reject_once", "reject_always")
        option = next(
            (o for k in wanted for o in choices if o.get("kind") == k and o.get("optionId")), None
        )
        if not allowed:
            self.events.put_nowait(self.parser.denied(call, reason or "permission denied"))
        if option is None:
            return {"outcome": {"outcome": "cancelled"}}
        return {"outcome": {"outcome": "selected", "optionId": option["optionId"]}}

    async def read_text_file(self, session_id: str, path: str, **kwargs: Any) -> dict[str, Any]:
        from acp import RequestError

        raise RequestError.method_not_found("fs/read_text_file")

    async def write_text_file(self, session_id: str, path: str, **kwargs: Any) -> None:
        from acp import RequestError

        raise RequestError.method_not_found("fs/write_text_file")


class _Run:
    __slots__ = ("cancelled", "conn", "process", "session_id")

    def __init__(self, process: CLIProcess) -> None:
        self.process = process
        self.conn: ClientSideConnection | None = None
        self.session_id: str | None = None
        self.cancelled = False


class ACPAdapter:
    """A ``ProviderAdapter`` for any agent command speaking ACP over stdio.

    ``command`` is the agent's command line (a string is split like a shell would), e.g.
    ``"node .../claude-code-acp/dist/index.js"`` or ``["codex-acp"]``; ``name`` is the provider
    name recorded on runs (default ``"acp"``). ``options.extra``: ``mode`` (an agent session mode
    id to set, overriding :data:`MODE_PREFERENCES`), ``mcp_servers`` (ACP MCP server objects).
    ``model`` is set through the session's ``model`` config option (``session/set_config_option``;
    an agent without one fails the run with ``validation_error``); ``system_prompt`` is refused
    (ACP has no such parameter); ``max_turns`` is ignored (no turn limit in ACP).
    """

    def __init__(self, command: str | Sequence[str], *, name: str = "acp") -> None:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        if not argv:
            raise ValidationError("the ACP adapter needs an agent command")
        self._argv = tuple(argv)
        self._name = name
        self._runs: dict[str, _Run] = {}

    @property
    def name(self) -> str:
        return self._name

    @property
    def argv(self) -> tuple[str, ...]:
        return self._argv

    def capabilities(self) -> Sequence[Capability]:
        return (
            Capability(name="streaming", type=CapabilityType.STREAMING),
            Capability(name="sampling", type=CapabilityType.SAMPLING),
            Capability(name="tools", type=CapabilityType.TOOL),
            Capability(name="code_execution", type=CapabilityType.CODE_EXECUTION),
            Capability(name="file_access", type=CapabilityType.FILE_ACCESS),
            Capability(name="resume", type=CapabilityType.RESUME),
            Capability(name="cancel", type=CapabilityType.CANCEL),
        )

    def running(self, run_id: str) -> CLIProcess | None:
        """The agent process of a run in progress (for tests and diagnostics)."""
        run = self._runs.get(run_id)
        return run.process if run is not None else None

    async def stream(self, request: RunRequest) -> AsyncIterator[ProviderEvent]:
        options = request.options
        if options.system_prompt is not None:
            raise ValidationError("ACP has no system prompt parameter: system_prompt is refused")
        if options.max_turns is not None:
            logger.debug("ACP has no turn limit; max_turns=%s is ignored", options.max_turns)
        cwd = _absolute(options.cwd)
        env = {**os.environ, **options.env}
        # The package is imported here, not at module import (0.5-0.7 s with mcp), and before
        # the agent starts, so a missing extra fails the run with the install command and no
        # process is spawned for nothing.
        with install_hint("the ACP adapter"):
            import acp  # noqa: F401
        process = await CLIProcess.spawn(self._argv, cwd=cwd, env=env, interactive=True)
        run = _Run(process)
        self._runs[request.run_id] = run
        parser = ACPUpdateParser()
        client = _Client(options, parser)
        transport = _ProcessTransport(process)
        driver = asyncio.create_task(self._drive(request, run, client, transport, cwd))
        driver.add_done_callback(lambda _: client.events.put_nowait(None))
        try:
            while True:
                batch = await client.events.get()
                if batch is None:
                    break
                for event in batch:
                    yield event
            if run.cancelled:
                return
            await driver  # raises the run's error
        finally:
            self._runs.pop(request.run_id, None)
            if not driver.done():
                driver.cancel()
            await asyncio.gather(driver, return_exceptions=True)
            if run.conn is not None:
                with contextlib.suppress(Exception):
                    await run.conn.close()
            await process.close()

    async def _drive(
        self,
        request: RunRequest,
        run: _Run,
        client: _Client,
        transport: _ProcessTransport,
        cwd: str,
    ) -> None:
        with install_hint("the ACP adapter"):
            from acp import PROTOCOL_VERSION, RequestError, connect_to_agent, text_block
            from acp.schema import ClientCapabilities, Implementation

        conn = connect_to_agent(client, transport)  # type: ignore[arg-type]
        run.conn = conn
        options = request.options
        mcp_servers = options.extra.get("mcp_servers") or []
        try:
            async with asyncio.timeout(SETUP_TIMEOUT_S):
                init = await conn.initialize(
                    protocol_version=PROTOCOL_VERSION,
                    client_capabilities=ClientCapabilities(),
                    client_info=Implementation(name="agent-session-manager", version="1"),
                )
                loaded: Any = None
                if request.provider_session_id:
                    if not init.agent_capabilities or not init.agent_capabilities.load_session:
                        raise ProviderError(
                            "the agent cannot load sessions, so the run cannot resume "
                            f"{request.provider_session_id}",
                            code="provider_error",
                        )
                    session_id = request.provider_session_id
                    try:
                        loaded = await conn.load_session(
                            cwd=cwd, session_id=session_id, mcp_servers=mcp_servers
                        )
                    except RequestError as exc:
                        if "not found" not in f"{exc} {exc.data}".lower():
                            raise
                        # The agent never saved it (e.g. an earlier run cancelled before its
                        # first reply): say so, and go on in a new session.
                        client.events.put_nowait([_lost_session(session_id, exc)])
                if loaded is not None:
                    modes, info = getattr(loaded, "modes", None), _wire(loaded)
                else:
                    created = await conn.new_session(cwd=cwd, mcp_servers=mcp_servers)
                    session_id = created.session_id
                    modes, info = created.modes, _wire(created)
                info = info if isinstance(info, dict) else {}
                model = session_model(info)
                run.session_id = session_id
                mode = _choose_mode(options, modes)
                if mode is not None and mode != getattr(modes, "current_mode_id", None):
                    await conn.set_session_mode(session_id=session_id, mode_id=mode)
                if options.model and options.model != model:
                    option_id = _model_option(info)
                    if option_id is None:
                        raise ValidationError(
                            f"the agent offers no model choice over ACP: model={options.model!r} "
                            "cannot be applied (configure the agent itself)"
                        )
                    await conn.set_config_option(
                        config_id=option_id, session_id=session_id, value=options.model
                    )
                    model = options.model
            client.events.put_nowait(client.parser.started(session_id, model))
            client.live = True
            response = await conn.prompt(session_id=session_id, prompt=[text_block(request.prompt)])
            client.events.put_nowait(client.parser.finish(_wire(response)))
        except RequestError as exc:
            if run.cancelled:
                return
            error = _request_error(exc, run.process)
            if client.parser.denials and exc.code == _INTERNAL_ERROR:
                # claude-code-acp 0.16.2 over Claude Code 2.1.331 ends a turn whose tool call
                # was refused with an internal error (over its bundled 2.1.44 it ends the turn
                # normally): the refusal ended the turn, so the run ends there, error recorded.
                client.events.put_nowait(
                    [
                        ProviderEvent(
                            EventType.ERROR_OCCURRED,
                            {"error_code": error.code, "error_message": error.message},
                        ),
                        *client.parser.finish({"stopReason": "permission_denied"}),
                    ]
                )
                return
            raise error from exc
        except ConnectionError as exc:
            if run.cancelled:
                return
            if transport.error is not None:
                raise transport.error from exc
            raise await run.process.exit_error("before the prompt ended") from exc
        except TimeoutError as exc:
            raise ProviderError(
                f"the agent did not answer its setup requests within {SETUP_TIMEOUT_S:g} s",
                code="provider_timeout",
            ) from exc

    async def cancel(self, run_id: str) -> None:
        """Send ``session/cancel``, give the agent a moment, then stop its process group."""
        run = self._runs.get(run_id)
        if run is None:
            return
        run.cancelled = True
        if run.conn is not None and run.session_id is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CANCEL_GRACE_S):
                    await run.conn.cancel(session_id=run.session_id)
                    await asyncio.wait_for(asyncio.shield(run.process.process.wait()), 0.2)
        await run.process.close(grace=0.5)


def _model_option(response: Mapping[str, Any]) -> str | None:
    """The id of the session's ``model`` config option, if the agent offers one."""
    for option in response.get("configOptions") or []:
        if isinstance(option, dict) and option.get("category") == "model" and option.get("id"):
            return str(option["id"])
    return None


def _lost_session(session_id: str, exc: Any) -> ProviderEvent:
    message = (
        f"the agent could not load session {session_id} ({exc}): the run continues in a new "
        "session, without the earlier history"
    )
    return ProviderEvent(
        EventType.ERROR_OCCURRED,
        {"error_code": "provider_error", "error_message": message, "details": {"lost": session_id}},
    )


def session_model(response: Mapping[str, Any]) -> str | None:
    """The session's model as a ``session/new`` / ``session/load`` result (wire JSON) reports
    it: the current value of its ``model`` config option, if any."""
    for option in response.get("configOptions") or []:
        if isinstance(option, dict) and option.get("category") == "model":
            value = option.get("currentValue")
            return value if isinstance(value, str) and value else None
    return None


def _absolute(cwd: str | None) -> str:
    """ACP wants an absolute working directory."""
    return os.path.abspath(cwd or os.getcwd())


def _choose_mode(options: AdapterOptions, modes: Any) -> str | None:
    explicit = options.extra.get("mode")
    if isinstance(explicit, str) and explicit:
        return explicit
    available = {getattr(m, "id", None) for m in getattr(modes, "available_modes", None) or []}
    for wanted in MODE_PREFERENCES[options.permission_mode]:
        if wanted in available:
            return wanted
    return None


def _request_error(exc: Any, process: CLIProcess) -> ProviderError:
    """A JSON-RPC error from the agent as a ``ProviderError`` (an HTTP status in its data or
    message picks the code and ``retryable``)."""
    message = str(exc) or "the agent reported an error"
    data = getattr(exc, "data", None)
    detail = ""
    if isinstance(data, dict):
        detail = str(data.get("details") or data.get("message") or "")
    elif isinstance(data, str):
        detail = data
    text = f"{message}: {detail}" if detail and detail not in message else message
    raw: dict[str, Any] = {"code": getattr(exc, "code", None), "message": message}
    if data is not None:
        raw["data"] = data
    status = _status_in(text)
    body = _error_body(text)
    if body is not None:
        raw["body"] = body
        inner = body["error"]
        text = str(inner.get("message") or text)
        # An API error body without a status line (codex-acp reports a 400 that way).
        status = status or _ERROR_TYPE_STATUS.get(str(inner.get("type")), 400)
    if status is not None:
        return status_error(status, text, provider_error=raw)
    details: dict[str, Any] = {}
    stderr = process.stderr_tail.strip()
    if stderr:
        details["stderr"] = stderr[-2000:]
    return ProviderError(text, code="provider_error", provider_error=raw, details=details)


def _status_in(text: str) -> int | None:
    match = _STATUS_RE.search(text)
    return int(match.group(1)) if match else None


def _error_body(text: str) -> dict[str, Any] | None:
    """An API error body (``{"error": {...}}``) embedded in an error message, if any."""
    start = text.find("{")
    if start < 0:
        return None
    try:
        body = orjson.loads(text[start:])
    except orjson.JSONDecodeError:
        return None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body
    return None
