"""A scripted fake model server, so the real agent CLIs (``claude``, ``codex``) run fully offline.

It speaks the Anthropic Messages API (``POST /v1/messages``, streaming SSE or not, plus
``/v1/messages/count_tokens`` and ``/v1/models``) and the OpenAI Responses API
(``POST /v1/responses``, streaming SSE) on 127.0.0.1, on a free port, in a background thread. What
it answers is a *script*: rules tried in order, each a ``match`` (what the request must look like)
and a ``reply`` (actions: text, thinking, a shell-tool call built from the request's own shell tool
schema, any tool call, an HTTP error, a delay). Every request is kept in :attr:`requests` (and
optionally appended to a JSONL file) so tests can assert on what the CLI sent.

Script format (JSON, or the same shape as Python dicts)::

    {"rules": [
        {"match": {"user_contains": "write", "after_tool_result": false},
         "reply": [{"text": "I'll create the file."}, {"shell": "echo hi > out.txt"}],
         "usage": {"input_tokens": 100, "output_tokens": 10}},
        {"match": {"after_tool_result": true},
         "reply": [{"text": "Done: {tool_output}"}], "times": 1}],
     "default": [{"text": "Hello from the fake model!"}]}

Match keys (all must hold): ``api`` (``"anthropic"`` | ``"openai"``), ``user_contains`` (text of
the last user message the user typed), ``last_contains`` (any text of the last message),
``after_tool_result`` (bool: the last message carries a tool result), ``has_tools`` (bool),
``model_contains``, ``system_contains``. Reply actions: ``{"text": s}`` (``{tool_output}`` and
``{user_text}`` are substituted), ``{"thinking": s}``, ``{"shell": cmd}``, ``{"tool": name,
"input": {...}}``, ``{"error": status, "message": s}`` (an HTTP error in the API's own error
shape; 529 is Anthropic's "overloaded"), ``{"delay": seconds}`` (pause before the next action,
mid-stream). ``times`` limits how often a rule fires. Without a matching rule the ``default``
reply is used; prompts may also steer it with ``FAKE_SHELL: <cmd>`` / ``FAKE_TEXT: <text>``.

This module knows HTTP and the two wire formats; it knows nothing of the session manager, its
adapters or its stores (the library never imports it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_REPLY",
    "FakeModelServer",
    "RecordedRequest",
    "Script",
    "ScriptError",
    "delay",
    "error",
    "rule",
    "shell",
    "text",
    "thinking",
    "tool",
]

#: The reply when no rule matches and the script has no ``default``.
DEFAULT_REPLY: tuple[dict[str, Any], ...] = ({"text": "Hello from the fake model!"},)

_MATCH_KEYS = frozenset(
    {
        "api",
        "user_contains",
        "last_contains",
        "after_tool_result",
        "has_tools",
        "model_contains",
        "system_contains",
    }
)
_ACTION_KEYS = ("text", "thinking", "shell", "tool", "error", "delay")
_SHELL_TOOL_NAMES = ("Bash", "bash", "exec_command", "shell", "local_shell", "container.exec")
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


class ScriptError(ValueError):
    """A script that cannot be played (names the bad rule or action)."""


# -- script building helpers ---------------------------------------------------------------------
def text(content: str) -> dict[str, Any]:
    """Reply with assistant text (``{tool_output}`` / ``{user_text}`` are substituted)."""
    return {"text": content}


def thinking(content: str) -> dict[str, Any]:
    """Reply with a thinking (reasoning) block."""
    return {"thinking": content}


def shell(command: str) -> dict[str, Any]:
    """Call the request's own shell tool (``Bash``, ``exec_command``, ...) with ``command``."""
    return {"shell": command}


def tool(name: str, tool_input: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Call any tool by name with the given input."""
    return {"tool": name, "input": dict(tool_input or {})}


def error(status: int, message: str = "fake-model: scripted error") -> dict[str, Any]:
    """Answer with an HTTP error (400 invalid request, 429 rate limit, 529 overloaded, ...)."""
    return {"error": status, "message": message}


def delay(seconds: float) -> dict[str, Any]:
    """Pause before the next action (mid-stream when a reply has already begun)."""
    return {"delay": seconds}


def rule(
    *reply: Mapping[str, Any],
    times: int | None = None,
    usage: Mapping[str, int] | None = None,
    **match: Any,
) -> dict[str, Any]:
    """One script rule: ``rule(text("hi"), user_contains="hello", times=1)``."""
    out: dict[str, Any] = {"match": match, "reply": [dict(a) for a in reply]}
    if times is not None:
        out["times"] = times
    if usage is not None:
        out["usage"] = dict(usage)
    return out


@dataclass
class _Rule:
    match: dict[str, Any]
    reply: list[dict[str, Any]]
    times: int | None
    usage: dict[str, int] | None
    fired: int = 0


@dataclass
class Script:
    """Rules tried in order, the default reply, and stub answers for other routes."""

    rules: list[dict[str, Any]] = field(default_factory=list)
    default: list[dict[str, Any]] = field(default_factory=lambda: [dict(a) for a in DEFAULT_REPLY])
    #: ``{"METHOD /path": json_body}`` canned answers for routes the server does not serve.
    stubs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Script:
        if not isinstance(raw, Mapping):
            raise ScriptError("a script must be a JSON object with 'rules' and/or 'default'")
        unknown = set(raw) - {"rules", "default", "stubs"}
        if unknown:
            raise ScriptError(f"unknown script keys: {sorted(unknown)}")
        rules = raw.get("rules", [])
        if not isinstance(rules, list):
            raise ScriptError("'rules' must be a list")
        script = cls(
            rules=[dict(r) for r in rules],
            default=list(raw.get("default", [dict(a) for a in DEFAULT_REPLY])),
            stubs=dict(raw.get("stubs", {})),
        )
        script._compile()  # validate now, with the rule's position in the error
        return script

    @classmethod
    def load(cls, path: str | Path) -> Script:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ScriptError(f"cannot read script {path}: {exc}") from exc
        return cls.from_dict(raw)

    def _compile(self) -> tuple[list[_Rule], list[dict[str, Any]]]:
        compiled = []
        for index, raw in enumerate(self.rules):
            where = f"rule {index + 1}"
            if not isinstance(raw, Mapping):
                raise ScriptError(f"{where}: must be an object")
            match = dict(raw.get("match") or {})
            bad = set(match) - _MATCH_KEYS
            if bad:
                raise ScriptError(f"{where}: unknown match keys {sorted(bad)}")
            times = raw.get("times")
            if times is not None and (not isinstance(times, int) or times < 1):
                raise ScriptError(f"{where}: 'times' must be a positive integer")
            reply = _check_reply(raw.get("reply"), where)
            usage = raw.get("usage")
            if usage is not None and not isinstance(usage, Mapping):
                raise ScriptError(f"{where}: 'usage' must be an object")
            compiled.append(_Rule(match, reply, times, dict(usage) if usage else None))
        return compiled, _check_reply(self.default, "default")


def _check_reply(reply: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(reply, list) or not reply:
        raise ScriptError(f"{where}: 'reply' must be a non-empty list of actions")
    for position, action in enumerate(reply):
        if not isinstance(action, Mapping) or not any(k in action for k in _ACTION_KEYS):
            raise ScriptError(
                f"{where}, action {position + 1}: expected one of {', '.join(_ACTION_KEYS)}"
            )
        if "error" in action and not isinstance(action["error"], int):
            raise ScriptError(f"{where}, action {position + 1}: 'error' is an HTTP status")
    return [dict(a) for a in reply]


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received, as tests see it."""

    seq: int
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    #: ``"anthropic"``, ``"openai"`` or ``None`` (side routes).
    api: str | None = None
    #: Which rule answered (1-based), ``0`` for the default reply, ``None`` for side routes.
    rule: int | None = None
    status: int = 200

    @property
    def is_model_call(self) -> bool:
        return self.api is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body,
            "api": self.api,
            "rule": self.rule,
            "status": self.status,
        }


# -- request inspection --------------------------------------------------------------------------
@dataclass
class _View:
    """What the matcher needs from a model request, for either API."""

    api: str
    model: str
    user_text: str
    last_text: str
    after_tool_result: bool
    tool_output: str
    tools: list[dict[str, Any]]
    system: str


def _block_text(block: Any) -> str:
    if isinstance(block, str):
        return block
    if isinstance(block, Mapping):
        for key in ("text", "output", "content"):
            value = block.get(key)
            if isinstance(value, str):
                return value
            if isinstance(value, list):
                return "\n".join(_block_text(b) for b in value)
    if isinstance(block, list):
        return "\n".join(_block_text(b) for b in block)
    return ""


def _anthropic_view(body: Mapping[str, Any]) -> _View:
    # Claude Code puts role "system" messages inside messages[] (environment updates), even
    # after a tool result: skip them, or a tool result that just came back goes unnoticed.
    messages = [m for m in body.get("messages") or [] if m.get("role") in ("user", "assistant")]
    user_text = last_text = tool_output = ""
    after_tool = False
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        texts = [b.get("text", "") for b in blocks if b.get("type") == "text"]
        if texts:
            user_text = "\n".join(texts)
            break
    if messages:
        last = messages[-1]
        content = last.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        last_text = "\n".join(_block_text(b) for b in blocks)
        results = [b for b in blocks if b.get("type") == "tool_result"]
        if last.get("role") == "user" and results:
            after_tool = True
            tool_output = _block_text(results[-1].get("content"))
    system = body.get("system")
    return _View(
        api="anthropic",
        model=str(body.get("model", "")),
        user_text=user_text,
        last_text=last_text,
        after_tool_result=after_tool,
        tool_output=tool_output,
        tools=list(body.get("tools") or []),
        system=_block_text(system) if system else "",
    )


def _openai_view(body: Mapping[str, Any]) -> _View:
    items = body.get("input")
    if isinstance(items, str):
        items = [{"type": "message", "role": "user", "content": items}]
    items = list(items or [])
    user_text = last_text = tool_output = ""
    after_tool = False
    for item in reversed(items):
        if item.get("role") == "user" and item.get("type", "message") == "message":
            user_text = _block_text(item.get("content"))
            break
    if items:
        last = items[-1]
        last_text = _block_text(last.get("content") or last.get("output") or "")
        if last.get("type") in ("function_call_output", "custom_tool_call_output"):
            after_tool = True
            tool_output = _block_text(last.get("output"))
    return _View(
        api="openai",
        model=str(body.get("model", "")),
        user_text=user_text,
        last_text=last_text,
        after_tool_result=after_tool,
        tool_output=tool_output,
        tools=list(body.get("tools") or []),
        system=str(body.get("instructions") or ""),
    )


def _matches(match: Mapping[str, Any], view: _View) -> bool:
    checks: dict[str, Callable[[Any], bool]] = {
        "api": lambda v: view.api == v,
        "user_contains": lambda v: str(v) in view.user_text,
        "last_contains": lambda v: str(v) in view.last_text,
        "after_tool_result": lambda v: view.after_tool_result == bool(v),
        "has_tools": lambda v: bool(view.tools) == bool(v),
        "model_contains": lambda v: str(v) in view.model,
        "system_contains": lambda v: str(v) in view.system,
    }
    return all(checks[key](value) for key, value in match.items())


def _shell_input(view: _View, command: str) -> tuple[str, dict[str, Any]]:
    """The request's own shell tool and an input built from its schema."""
    by_name = {str(t.get("name") or t.get("type")): t for t in view.tools}
    for name in _SHELL_TOOL_NAMES:
        spec = by_name.get(name)
        if spec is None:
            continue
        schema = spec.get("input_schema") or spec.get("parameters") or {}
        props = schema.get("properties") or {}
        if "cmd" in props:
            return name, {"cmd": command}
        if props.get("command", {}).get("type") == "array":
            return name, {"command": ["bash", "-lc", command]}
        return name, {"command": command}
    raise ScriptError(
        f"the request has no shell tool (tools: {sorted(by_name)}); use a 'tool' action"
    )


def _tokens(value: Any) -> int:
    return max(1, len(json.dumps(value, default=str)) // 4)


# -- the server ----------------------------------------------------------------------------------
class FakeModelServer:
    """The fake model server. Use it as a context manager (it runs in a background thread)::

    with FakeModelServer(script) as server:
        env = {"ANTHROPIC_BASE_URL": server.url, ...}
        ...
        assert server.model_requests()[0].body["stream"] is True
    """

    def __init__(
        self,
        script: Script | Mapping[str, Any] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_path: str | Path | None = None,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the fake model server only binds a loopback address")
        self.host = host
        self._port = port
        self._log_path = Path(log_path) if log_path is not None else None
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._requests: list[RecordedRequest] = []
        self._rules: list[_Rule] = []
        self._default: list[dict[str, Any]] = []
        self._stubs: dict[str, Any] = {}
        self.set_script(script)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._stopped: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    # -- script and log ----------------------------------------------------------------------
    def set_script(self, script: Script | Mapping[str, Any] | None) -> None:
        """Replace the script (rule counters restart)."""
        if script is None:
            script = Script()
        elif not isinstance(script, Script):
            script = Script.from_dict(script)
        rules, default = script._compile()
        with self._lock:
            self._rules, self._default, self._stubs = rules, default, dict(script.stubs)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in order (a copy)."""
        with self._lock:
            return list(self._requests)

    def model_requests(self, api: str | None = None) -> list[RecordedRequest]:
        """The model calls (``/messages``, ``/responses``) so far, optionally of one API."""
        return [r for r in self.requests if r.is_model_call and (api is None or r.api == api)]

    def wait_for_model_requests(
        self, count: int = 1, timeout: float = 30.0
    ) -> list[RecordedRequest]:
        """Block until ``count`` model calls have arrived (``TimeoutError`` after ``timeout``);
        from async code: ``await asyncio.to_thread(server.wait_for_model_requests)``."""
        with self._arrived:
            done = self._arrived.wait_for(
                lambda: sum(r.is_model_call for r in self._requests) >= count, timeout
            )
            if not done:
                raise TimeoutError(f"fewer than {count} model requests after {timeout} s")
            return [r for r in self._requests if r.is_model_call]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- addresses ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("the server is not running")
        return self._port

    @property
    def url(self) -> str:
        """Base URL without a path (``ANTHROPIC_BASE_URL``: the CLI adds ``/v1/messages``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """Base URL with ``/v1`` (what OpenAI clients and Codex's ``base_url`` expect)."""
        return f"{self.url}/v1"

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeModelServer:
        """Start serving in a background thread; returns once the port is bound."""
        if self._thread is not None:
            return self
        self._ready.clear()
        self._thread = threading.Thread(target=self._serve, name="fake-model-server", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._startup_error is not None:
            raise RuntimeError(f"fake model server failed to start: {self._startup_error}")
        return self

    def stop(self) -> None:
        """Stop serving and join the thread (idempotent)."""
        thread, loop, stopped = self._thread, self._loop, self._stopped
        if thread is None or loop is None or stopped is None:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(stopped.set)
        thread.join(10)
        self._thread = None

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to start()
            self._startup_error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stopped = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._port)
        await site.start()
        self._port = int(runner.addresses[0][1])
        self._runner = runner
        self._ready.set()
        try:
            await self._stopped.wait()
        finally:
            await runner.cleanup()

    # -- dispatch ----------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body: Any
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        path = request.path
        method = request.method
        api: str | None = None
        if method == "POST" and path.endswith("/messages"):
            api = "anthropic"
        elif method == "POST" and path.endswith("/responses"):
            api = "openai"
        if api is None or not isinstance(body, dict):
            return self._side_route(request, method, path, body)
        view = _anthropic_view(body) if api == "anthropic" else _openai_view(body)
        rule_no, reply, usage = self._choose(view)
        status = next((int(a["error"]) for a in reply if "error" in a), 200)
        self._record(request, body, api, rule_no, status)
        try:
            if status != 200:
                action = next(a for a in reply if "error" in a)
                return await self._error(api, action, reply)
            if api == "anthropic":
                return await self._anthropic(request, body, view, reply, usage)
            return await self._openai(request, body, view, reply, usage)
        except ScriptError as exc:
            logger.error("fake model script error: %s", exc)
            return web.json_response(
                {"type": "error", "error": {"type": "invalid_request_error", "message": str(exc)}},
                status=400,
            )

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the server stops (a delayed reply never blocks stop)."""
        if self._stopped is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), seconds)

    def _choose(self, view: _View) -> tuple[int, list[dict[str, Any]], dict[str, int] | None]:
        with self._lock:
            for index, candidate in enumerate(self._rules):
                if candidate.times is not None and candidate.fired >= candidate.times:
                    continue
                if _matches(candidate.match, view):
                    candidate.fired += 1
                    return index + 1, copy.deepcopy(candidate.reply), candidate.usage
            default = copy.deepcopy(self._default)
        steer = re.search(r"FAKE_(SHELL|TEXT): ?(.+)", view.user_text)
        if steer and not view.after_tool_result:
            kind, value = steer.group(1), steer.group(2).strip()
            return 0, [{"shell": value} if kind == "SHELL" else {"text": value}], None
        return 0, default, None

    def _record(
        self, request: web.Request, body: Any, api: str | None, rule_no: int | None, status: int
    ) -> None:
        headers = {
            k.lower(): (v[:12] + "…" if k.lower() in ("x-api-key", "authorization") else v)
            for k, v in request.headers.items()
        }
        with self._lock:
            entry = RecordedRequest(
                seq=len(self._requests) + 1,
                method=request.method,
                path=request.path,
                query=request.query_string,
                headers=headers,
                body=body,
                api=api,
                rule=rule_no,
                status=status,
            )
            self._requests.append(entry)
            self._arrived.notify_all()
            if self._log_path is not None:
                with self._log_path.open("a", encoding="utf-8") as log:
                    log.write(json.dumps(entry.to_dict(), default=str) + "\n")

    def _side_route(
        self, request: web.Request, method: str, path: str, body: Any
    ) -> web.StreamResponse:
        stub_key = f"{method} {path}"
        with self._lock:
            stub = self._stubs.get(stub_key, self._stubs.get(path))
        if stub is not None:
            self._record(request, body, None, None, 200)
            return web.json_response(stub)
        if method == "POST" and path.endswith("/count_tokens"):
            self._record(request, body, None, None, 200)
            return web.json_response({"input_tokens": _tokens(body)})
        if method == "GET" and path.rstrip("/").endswith("/models"):
            self._record(request, body, None, None, 200)
            model = {"id": "claude-fake-1", "type": "model", "display_name": "Fake model"}
            return web.json_response(
                {"data": [model], "has_more": False, "first_id": model["id"], "last_id": None}
            )
        self._record(request, body, None, None, 404)
        logger.info("fake model server: no route for %s %s", method, path)
        return web.json_response(
            {"type": "error", "error": {"type": "not_found_error", "message": f"no route {path}"}},
            status=404,
        )

    async def _error(
        self, api: str, action: Mapping[str, Any], reply: Sequence[Mapping[str, Any]]
    ) -> web.StreamResponse:
        for step in reply:
            if "delay" in step:
                await self._pause(float(step["delay"]))
        status = int(action["error"])
        message = str(action.get("message") or "fake-model: scripted error")
        kind = _ERROR_TYPES.get(status, "api_error")
        if api == "anthropic":
            payload: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
        else:
            code = "server_is_overloaded" if status in (503, 529) else None
            payload = {"error": {"type": kind, "message": message, "code": code, "param": None}}
        headers = {"x-should-retry": "false"} if status < 500 and status != 429 else {}
        return web.json_response(payload, status=status, headers=headers)

    # -- Anthropic Messages ------------------------------------------------------------------
    def _anthropic_blocks(
        self, view: _View, reply: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any] | float]:
        blocks: list[dict[str, Any] | float] = []
        for action in reply:
            if "delay" in action:
                blocks.append(float(action["delay"]))
            elif "text" in action:
                blocks.append({"type": "text", "text": _fill(str(action["text"]), view)})
            elif "thinking" in action:
                blocks.append(
                    {
                        "type": "thinking",
                        "thinking": str(action["thinking"]),
                        "signature": "fake-signature",
                    }
                )
            elif "shell" in action or "tool" in action:
                if "shell" in action:
                    name, tool_input = _shell_input(view, str(action["shell"]))
                else:
                    name, tool_input = str(action["tool"]), dict(action.get("input") or {})
                call_id = "toolu_" + uuid.uuid4().hex[:24]
                call = {"type": "tool_use", "id": call_id, "name": name, "input": tool_input}
                blocks.append(call)
        return blocks

    async def _anthropic(
        self,
        request: web.Request,
        body: Mapping[str, Any],
        view: _View,
        reply: Sequence[Mapping[str, Any]],
        usage: Mapping[str, int] | None,
    ) -> web.StreamResponse:
        items = self._anthropic_blocks(view, reply)
        blocks = [b for b in items if isinstance(b, dict)]
        stop_reason = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
        input_tokens = int((usage or {}).get("input_tokens", _tokens(body)))
        output_tokens = int((usage or {}).get("output_tokens", _tokens(blocks)))
        message_id = "msg_" + uuid.uuid4().hex[:24]
        model = view.model or "claude-fake-1"
        usage_start = {
            "input_tokens": input_tokens,
            "output_tokens": 1,
            "cache_creation_input_tokens": int((usage or {}).get("cache_creation_input_tokens", 0)),
            "cache_read_input_tokens": int((usage or {}).get("cache_read_input_tokens", 0)),
        }
        if not body.get("stream"):
            for item in items:
                if isinstance(item, float):
                    await self._pause(item)
            return web.json_response(
                {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": blocks,
                    "stop_reason": stop_reason,
                    "stop_sequence": None,
                    "usage": {**usage_start, "output_tokens": output_tokens},
                }
            )
        response = await _sse_response(request)
        start: dict[str, Any] = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_start,
        }
        await _sse(response, "message_start", {"type": "message_start", "message": start})
        await _sse(response, "ping", {"type": "ping"})
        index = 0
        for item in items:
            if isinstance(item, float):
                await self._pause(item)
                continue
            await self._anthropic_block(response, index, item)
            index += 1
        await _sse(
            response,
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            },
        )
        await _sse(response, "message_stop", {"type": "message_stop"})
        await _end(response)
        return response

    async def _anthropic_block(
        self, response: web.StreamResponse, index: int, block: Mapping[str, Any]
    ) -> None:
        kind = block["type"]
        if kind == "text":
            opening: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": c} for c in _chunks(block["text"])]
        elif kind == "thinking":
            opening = {"type": "thinking", "thinking": ""}
            deltas = [{"type": "thinking_delta", "thinking": c} for c in _chunks(block["thinking"])]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        else:
            opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            arguments = json.dumps(block["input"])
            deltas = [{"type": "input_json_delta", "partial_json": c} for c in _chunks(arguments)]
        await _sse(
            response,
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": opening},
        )
        for delta_ in deltas:
            await _sse(
                response,
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta_},
            )
        await _sse(response, "content_block_stop", {"type": "content_block_stop", "index": index})

    # -- OpenAI Responses --------------------------------------------------------------------
    async def _openai(
        self,
        request: web.Request,
        body: Mapping[str, Any],
        view: _View,
        reply: Sequence[Mapping[str, Any]],
        usage: Mapping[str, int] | None,
    ) -> web.StreamResponse:
        response_id = "resp_" + uuid.uuid4().hex[:24]
        model = view.model or "gpt-fake-1"
        input_tokens = int((usage or {}).get("input_tokens", _tokens(body)))
        created = int(time.time())
        base = {
            "id": response_id,
            "object": "response",
            "created_at": created,
            "model": model,
            "output": [],
            "status": "in_progress",
        }
        stream = await _sse_response(request)
        seq = 0

        async def emit(kind: str, data: dict[str, Any]) -> None:
            nonlocal seq
            await _sse(stream, kind, {"type": kind, "sequence_number": seq, **data})
            seq += 1

        await emit("response.created", {"response": base})
        await emit("response.in_progress", {"response": base})
        outputs: list[dict[str, Any]] = []
        for action in reply:
            if "delay" in action:
                await self._pause(float(action["delay"]))
                continue
            index = len(outputs)
            if "text" in action:
                item = await self._openai_message(emit, index, _fill(str(action["text"]), view))
            elif "thinking" in action:
                item = {
                    "type": "reasoning",
                    "id": "rs_" + uuid.uuid4().hex[:24],
                    "summary": [{"type": "summary_text", "text": str(action["thinking"])}],
                }
                await emit("response.output_item.added", {"output_index": index, "item": item})
                await emit("response.output_item.done", {"output_index": index, "item": item})
            else:
                if "shell" in action:
                    name, tool_input = _shell_input(view, str(action["shell"]))
                else:
                    name, tool_input = str(action["tool"]), dict(action.get("input") or {})
                item = await self._openai_call(emit, index, name, tool_input)
            outputs.append(item)
        output_tokens = int((usage or {}).get("output_tokens", _tokens(outputs)))
        cached = int((usage or {}).get("cached_tokens", 0))
        final = {
            **base,
            "status": "completed",
            "output": outputs,
            "usage": {
                "input_tokens": input_tokens,
                "input_tokens_details": {"cached_tokens": cached},
                "output_tokens": output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": input_tokens + output_tokens,
            },
        }
        await emit("response.completed", {"response": final})
        await _end(stream)
        return stream

    async def _openai_message(self, emit: Any, index: int, content: str) -> dict[str, Any]:
        item_id = "msg_" + uuid.uuid4().hex[:24]
        item: dict[str, Any] = {
            "type": "message",
            "id": item_id,
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        await emit("response.output_item.added", {"output_index": index, "item": item})
        part = {"type": "output_text", "text": "", "annotations": []}
        where = {"item_id": item_id, "output_index": index, "content_index": 0}
        await emit("response.content_part.added", {**where, "part": part})
        for chunk in _chunks(content):
            await emit("response.output_text.delta", {**where, "delta": chunk})
        await emit("response.output_text.done", {**where, "text": content})
        done_part = {"type": "output_text", "text": content, "annotations": []}
        await emit("response.content_part.done", {**where, "part": done_part})
        item = {**item, "status": "completed", "content": [done_part]}
        await emit("response.output_item.done", {"output_index": index, "item": item})
        return item

    async def _openai_call(
        self, emit: Any, index: int, name: str, tool_input: Mapping[str, Any]
    ) -> dict[str, Any]:
        item_id = "fc_" + uuid.uuid4().hex[:24]
        arguments = json.dumps(tool_input)
        item: dict[str, Any] = {
            "type": "function_call",
            "id": item_id,
            "call_id": "call_" + uuid.uuid4().hex[:24],
            "name": name,
            "arguments": "",
            "status": "in_progress",
        }
        await emit("response.output_item.added", {"output_index": index, "item": item})
        for chunk in _chunks(arguments):
            await emit(
                "response.function_call_arguments.delta",
                {"item_id": item_id, "output_index": index, "delta": chunk},
            )
        await emit(
            "response.function_call_arguments.done",
            {"item_id": item_id, "output_index": index, "arguments": arguments},
        )
        item = {**item, "arguments": arguments, "status": "completed"}
        await emit("response.output_item.done", {"output_index": index, "item": item})
        return item


def _fill(template: str, view: _View) -> str:
    return template.replace("{tool_output}", view.tool_output).replace(
        "{user_text}", view.user_text
    )


def _chunks(value: str, size: int = 16) -> Iterator[str]:
    if not value:
        yield ""
        return
    for start in range(0, len(value), size):
        yield value[start : start + size]


async def _sse_response(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        status=200,
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    return response


async def _sse(response: web.StreamResponse, event: str, data: Mapping[str, Any]) -> None:
    # A client that went away (a cancelled CLI) just stops receiving: no error to log.
    with contextlib.suppress(ConnectionResetError):
        await response.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())


async def _end(response: web.StreamResponse) -> None:
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()


# -- command line --------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m agent_session_manager.testing.fake_model --script FILE [--port N] [--log F]``."""
    parser = argparse.ArgumentParser(
        prog="python -m agent_session_manager.testing.fake_model",
        description="Serve a scripted fake Anthropic/OpenAI model API on 127.0.0.1.",
    )
    parser.add_argument("--script", type=Path, help="JSON script (rules, default, stubs)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--log", type=Path, help="append every request to this JSONL file")
    args = parser.parse_args(argv)
    try:
        script = Script.load(args.script) if args.script else Script()
    except ScriptError as exc:
        parser.error(str(exc))
    server = FakeModelServer(script, port=args.port, log_path=args.log).start()
    # The one line a caller parses to find the port (this is a command, not library code).
    announce = json.dumps({"url": server.url, "port": server.port})
    import sys

    sys.stdout.write(announce + "\n")
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
