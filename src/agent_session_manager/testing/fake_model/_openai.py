"""The OpenAI Responses API as the fake model speaks it (``POST /v1/responses``).

:func:`request_view` reads what a script matches on from a request body; :func:`respond` plays a
reply as the SSE stream (``response.created`` … ``response.completed``, output items with their
deltas) that ``codex`` reads; :func:`error_body` is the API's error shape. Knows this wire format
and scripts' actions; nothing of Anthropic's format, of serving HTTP, or of the session manager.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from agent_session_manager.testing.fake_model._script import (
    View,
    block_text,
    estimate_tokens,
    fill,
    tool_call,
)
from agent_session_manager.testing.fake_model._sse import Pause, chunks, end, sse, sse_response


def request_view(body: Mapping[str, Any]) -> View:
    """What a script sees of a Responses API request."""
    items = body.get("input")
    if isinstance(items, str):
        items = [{"type": "message", "role": "user", "content": items}]
    items = list(items or [])
    user_text = last_text = tool_output = ""
    after_tool = False
    for item in reversed(items):
        if item.get("role") == "user" and item.get("type", "message") == "message":
            user_text = block_text(item.get("content"))
            break
    if items:
        last = items[-1]
        last_text = block_text(last.get("content") or last.get("output") or "")
        if last.get("type") in ("function_call_output", "custom_tool_call_output"):
            after_tool = True
            tool_output = block_text(last.get("output"))
    return View(
        api="openai",
        model=str(body.get("model", "")),
        user_text=user_text,
        last_text=last_text,
        after_tool_result=after_tool,
        tool_output=tool_output,
        tools=list(body.get("tools") or []),
        system=str(body.get("instructions") or ""),
    )


async def respond(
    request: web.Request,
    body: Mapping[str, Any],
    view: View,
    reply: Sequence[Mapping[str, Any]],
    usage: Mapping[str, int] | None,
    pause: Pause,
) -> web.StreamResponse:
    """The Responses API answer to ``body``, streamed as SSE."""
    response_id = "resp_" + uuid.uuid4().hex[:24]
    model = view.model or "gpt-fake-1"
    input_tokens = int((usage or {}).get("input_tokens", estimate_tokens(body)))
    created = int(time.time())
    base = {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "model": model,
        "output": [],
        "status": "in_progress",
    }
    stream = await sse_response(request)
    seq = 0

    async def emit(kind: str, data: dict[str, Any]) -> None:
        nonlocal seq
        await sse(stream, kind, {"type": kind, "sequence_number": seq, **data})
        seq += 1

    await emit("response.created", {"response": base})
    await emit("response.in_progress", {"response": base})
    outputs: list[dict[str, Any]] = []
    for action in reply:
        if "delay" in action:
            await pause(float(action["delay"]))
            continue
        index = len(outputs)
        if "text" in action:
            item = await _message(emit, index, fill(str(action["text"]), view))
        elif "thinking" in action:
            item = {
                "type": "reasoning",
                "id": "rs_" + uuid.uuid4().hex[:24],
                "summary": [{"type": "summary_text", "text": str(action["thinking"])}],
            }
            await emit("response.output_item.added", {"output_index": index, "item": item})
            await emit("response.output_item.done", {"output_index": index, "item": item})
        else:
            name, tool_input = tool_call(view, action)
            item = await _call(emit, index, name, tool_input)
        outputs.append(item)
    output_tokens = int((usage or {}).get("output_tokens", estimate_tokens(outputs)))
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
    await end(stream)
    return stream


async def _message(emit: Any, index: int, content: str) -> dict[str, Any]:
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
    for chunk in chunks(content):
        await emit("response.output_text.delta", {**where, "delta": chunk})
    await emit("response.output_text.done", {**where, "text": content})
    done_part = {"type": "output_text", "text": content, "annotations": []}
    await emit("response.content_part.done", {**where, "part": done_part})
    item = {**item, "status": "completed", "content": [done_part]}
    await emit("response.output_item.done", {"output_index": index, "item": item})
    return item


async def _call(emit: Any, index: int, name: str, tool_input: Mapping[str, Any]) -> dict[str, Any]:
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
    for chunk in chunks(arguments):
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


def error_body(kind: str, message: str, status: int) -> dict[str, Any]:
    """The Responses API's error body (``server_is_overloaded`` for 503 and 529)."""
    code = "server_is_overloaded" if status in (503, 529) else None
    return {"error": {"type": kind, "message": message, "code": code, "param": None}}
