"""The Anthropic message format as the ``claude`` and ``amp`` CLIs print it in stream-json.

Both CLIs write assistant content blocks (``text``, ``tool_use``, ``thinking``), ``user``
messages carrying ``tool_result`` blocks, and Anthropic ``usage`` objects; this module turns those
shared pieces into canonical events and values, and each adapter's parser keeps only what its CLI
does differently (line kinds, tool output shapes, denials, results). Pure: no I/O, no process, no
command line; it knows no store and no session manager.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from agent_session_manager.core.events import EventType
from agent_session_manager.core.usage import TokenUsage
from agent_session_manager.providers._events import THINKING_RECEIVED
from agent_session_manager.providers.protocol import ProviderEvent

#: The tool calls a run started, by call id: the tool's name and input (to name its result).
ToolCalls = dict[str, tuple[str, dict[str, Any]]]


def block_events(block: Mapping[str, Any], tools: ToolCalls) -> list[ProviderEvent]:
    """Events for an assistant content block other than text: a ``tool_use`` starts a tool
    call, remembered in ``tools`` by id so its result can be named; a non-empty ``thinking``
    block is kept."""
    kind = block.get("type")
    if kind == "tool_use":
        call_id = str(block.get("id", ""))
        name = str(block.get("name", ""))
        raw = block.get("input")
        tool_input = dict(raw) if isinstance(raw, dict) else {}
        tools[call_id] = (name, tool_input)
        return [
            ProviderEvent(
                EventType.TOOL_CALL_STARTED,
                {"tool_call_id": call_id, "tool_name": name, "tool_input": tool_input},
            )
        ]
    if kind == "thinking" and block.get("thinking"):
        return [ProviderEvent(THINKING_RECEIVED, {"content": str(block["thinking"])})]
    return []


def tool_results(
    content: Any, tools: ToolCalls
) -> Iterator[tuple[Mapping[str, Any], dict[str, Any]]]:
    """The ``tool_result`` blocks of a ``user`` message's content, each with the start of its
    event data: the call id, and the tool's name and input that :func:`block_events` remembered
    (``"unknown"`` and ``{}`` for a call it never saw). The caller adds the output and decides
    between completed and failed."""
    if not isinstance(content, list):
        return
    for block in content:
        if not isinstance(block, dict) or block.get("type") != "tool_result":
            continue
        call_id = str(block.get("tool_use_id", ""))
        name, tool_input = tools.get(call_id, ("unknown", {}))
        yield block, {"tool_call_id": call_id, "tool_name": name, "tool_input": tool_input}


def result_text(content: Any) -> str:
    """A ``tool_result`` block's content as text (a list of text blocks joined by lines)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(block.get("text", "")) for block in content if isinstance(block, dict))
    return "" if content is None else str(content)


def anthropic_usage(raw: Mapping[str, Any] | None) -> TokenUsage:
    """An Anthropic ``usage`` object as a :class:`TokenUsage` (input counts cache reads and
    writes too, as the library's usage does)."""
    if not raw:
        return TokenUsage()
    cache_read = int(raw.get("cache_read_input_tokens") or 0)
    cache_creation = int(raw.get("cache_creation_input_tokens") or 0)
    return TokenUsage(
        input_tokens=int(raw.get("input_tokens") or 0) + cache_read + cache_creation,
        output_tokens=int(raw.get("output_tokens") or 0),
        cache_read_tokens=cache_read,
        cache_creation_tokens=cache_creation,
    )
