"""The Anthropic Messages API as the fake model speaks it (``POST /v1/messages``).

:func:`request_view` reads what a script matches on from a request body; :func:`respond` plays a
reply as one JSON message or as the SSE stream (``message_start``, content blocks with their
deltas, ``message_delta``, ``message_stop``) that ``claude`` reads; :func:`error_body` is the
API's error shape. Knows this wire format and scripts' actions; nothing of OpenAI's format, of
serving HTTP, or of the session manager.
"""

from __future__ import annotations

import json
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
    """What a script sees of a Messages API request."""
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
        last_text = "\n".join(block_text(b) for b in blocks)
        results = [b for b in blocks if b.get("type") == "tool_result"]
        if last.get("role") == "user" and results:
            after_tool = True
            tool_output = block_text(results[-1].get("content"))
    system = body.get("system")
    return View(
        api="anthropic",
        model=str(body.get("model", "")),
        user_text=user_text,
        last_text=last_text,
        after_tool_result=after_tool,
        tool_output=tool_output,
        tools=list(body.get("tools") or []),
        system=block_text(system) if system else "",
    )


def reply_blocks(view: View, reply: Sequence[Mapping[str, Any]]) -> list[dict[str, Any] | float]:
    """A reply's content blocks in order, with each ``delay`` kept as its seconds."""
    blocks: list[dict[str, Any] | float] = []
    for action in reply:
        if "delay" in action:
            blocks.append(float(action["delay"]))
        elif "text" in action:
            blocks.append({"type": "text", "text": fill(str(action["text"]), view)})
        elif "thinking" in action:
            blocks.append(
                {
                    "type": "thinking",
                    "thinking": str(action["thinking"]),
                    "signature": "fake-signature",
                }
            )
        elif "shell" in action or "tool" in action:
            name, tool_input = tool_call(view, action)
            call_id = "toolu_" + uuid.uuid4().hex[:24]
            call = {"type": "tool_use", "id": call_id, "name": name, "input": tool_input}
            blocks.append(call)
    return blocks


async def respond(
    request: web.Request,
    body: Mapping[str, Any],
    view: View,
    reply: Sequence[Mapping[str, Any]],
    usage: Mapping[str, int] | None,
    pause: Pause,
) -> web.StreamResponse:
    """The Messages API answer to ``body`` (a JSON message, or SSE when it asks to stream)."""
    items = reply_blocks(view, reply)
    blocks = [b for b in items if isinstance(b, dict)]
    stop_reason = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
    input_tokens = int((usage or {}).get("input_tokens", estimate_tokens(body)))
    output_tokens = int((usage or {}).get("output_tokens", estimate_tokens(blocks)))
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
                await pause(item)
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
    response = await sse_response(request)
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
    await sse(response, "message_start", {"type": "message_start", "message": start})
    await sse(response, "ping", {"type": "ping"})
    index = 0
    for item in items:
        if isinstance(item, float):
            await pause(item)
            continue
        await _block(response, index, item)
        index += 1
    await sse(
        response,
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        },
    )
    await sse(response, "message_stop", {"type": "message_stop"})
    await end(response)
    return response


async def _block(response: web.StreamResponse, index: int, block: Mapping[str, Any]) -> None:
    kind = block["type"]
    if kind == "text":
        opening: dict[str, Any] = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": c} for c in chunks(block["text"])]
    elif kind == "thinking":
        opening = {"type": "thinking", "thinking": ""}
        deltas = [{"type": "thinking_delta", "thinking": c} for c in chunks(block["thinking"])]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    else:
        opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        arguments = json.dumps(block["input"])
        deltas = [{"type": "input_json_delta", "partial_json": c} for c in chunks(arguments)]
    await sse(
        response,
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": opening},
    )
    for delta_ in deltas:
        await sse(
            response,
            "content_block_delta",
            {"type": "content_block_delta", "index": index, "delta": delta_},
        )
    await sse(response, "content_block_stop", {"type": "content_block_stop", "index": index})


def error_body(kind: str, message: str) -> dict[str, Any]:
    """The Messages API's error body."""
    return {"type": "error", "error": {"type": kind, "message": message}}
