"""The fake model server: HTTP on a loopback port in a background thread, dispatch, the request log.

:class:`FakeModelServer` reads each request, lets the script choose a reply (rules in order, the
default, or a ``FAKE_SHELL:`` / ``FAKE_TEXT:`` steer in the prompt), records the request (and
appends it to a JSONL log if asked), and hands the reply to the wire format the path names
(:mod:`._anthropic` for ``/messages``, :mod:`._openai` for ``/responses``); other routes get a
stub, a token count, the model list or a 404. Knows aiohttp and dispatch; each format's bodies and
streams live in their own modules. Nothing here knows the session manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from agent_session_manager.testing.fake_model import _anthropic, _openai
from agent_session_manager.testing.fake_model._script import (
    Rule,
    Script,
    ScriptError,
    View,
    compile_script,
    estimate_tokens,
    matches,
)

logger = logging.getLogger(__name__)

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
        self._rules: list[Rule] = []
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
        rules, default = compile_script(script)
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
        anthropic = api == "anthropic"
        view = _anthropic.request_view(body) if anthropic else _openai.request_view(body)
        rule_no, reply, usage = self._choose(view)
        status = next((int(a["error"]) for a in reply if "error" in a), 200)
        self._record(request, body, api, rule_no, status)
        try:
            if status != 200:
                action = next(a for a in reply if "error" in a)
                return await self._error(api, action, reply)
            respond = _anthropic.respond if anthropic else _openai.respond
            return await respond(request, body, view, reply, usage, self._pause)
        except ScriptError as exc:
            logger.error("fake model script error: %s", exc)
            body = _anthropic.error_body("invalid_request_error", str(exc))
            return web.json_response(body, status=400)

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the server stops (a delayed reply never blocks stop)."""
        if self._stopped is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), seconds)

    def _choose(self, view: View) -> tuple[int, list[dict[str, Any]], dict[str, int] | None]:
        with self._lock:
            for index, candidate in enumerate(self._rules):
                if candidate.times is not None and candidate.fired >= candidate.times:
                    continue
                if matches(candidate.match, view):
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
            return web.json_response({"input_tokens": estimate_tokens(body)})
        if method == "GET" and path.rstrip("/").endswith("/models"):
            self._record(request, body, None, None, 200)
            model = {"id": "claude-fake-1", "type": "model", "display_name": "Fake model"}
            return web.json_response(
                {"data": [model], "has_more": False, "first_id": model["id"], "last_id": None}
            )
        self._record(request, body, None, None, 404)
        logger.info("fake model server: no route for %s %s", method, path)
        return web.json_response(
            _anthropic.error_body("not_found_error", f"no route {path}"), status=404
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
        payload = (
            _anthropic.error_body(kind, message)
            if api == "anthropic"
            else _openai.error_body(kind, message, status)
        )
        headers = {"x-should-retry": "false"} if status < 500 and status != 429 else {}
        return web.json_response(payload, status=status, headers=headers)
