"""The Anthropic stream format shared by the Claude and Amp parsers, and the custom event types
the adapters share: a tool result is named after the tool_use that started it, thinking blocks
and usage objects map as documented, and every shared custom type is a valid custom name."""

from __future__ import annotations

import pytest

from agent_session_manager import ProviderEvent
from agent_session_manager.core.events import is_canonical, validate_event_type
from agent_session_manager.providers._anthropic_stream import (
    ToolCalls,
    anthropic_usage,
    block_events,
    result_text,
    tool_results,
)
from agent_session_manager.providers._events import (
    CONTEXT_USAGE_UPDATED,
    PLAN_UPDATED,
    THINKING_RECEIVED,
)


def test_a_tool_result_is_named_after_its_tool_use() -> None:
    tools: ToolCalls = {}
    started = block_events(
        {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"c": 1}}, tools
    )
    assert started == [
        ProviderEvent(
            "tool_call_started", {"tool_call_id": "t1", "tool_name": "Bash", "tool_input": {"c": 1}}
        )
    ]
    content = [
        {"type": "text", "text": "not a result"},
        {"type": "tool_result", "tool_use_id": "t1", "content": "ok"},
        {"type": "tool_result", "tool_use_id": "never-started"},
    ]
    found = [(dict(block), data) for block, data in tool_results(content, tools)]
    assert [data for _, data in found] == [
        {"tool_call_id": "t1", "tool_name": "Bash", "tool_input": {"c": 1}},
        {"tool_call_id": "never-started", "tool_name": "unknown", "tool_input": {}},
    ]
    assert found[0][0]["content"] == "ok"


def test_content_that_is_not_a_list_has_no_tool_results() -> None:
    assert list(tool_results("plain text", {})) == []
    assert list(tool_results(None, {})) == []


def test_thinking_blocks_become_thinking_received_and_empty_ones_nothing() -> None:
    assert block_events({"type": "thinking", "thinking": "hmm"}, {}) == [
        ProviderEvent(THINKING_RECEIVED, {"content": "hmm"})
    ]
    assert block_events({"type": "thinking", "thinking": ""}, {}) == []
    assert block_events({"type": "redacted_thinking", "data": "x"}, {}) == []


def test_result_text_joins_text_blocks() -> None:
    assert result_text([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]) == "a\nb"
    assert result_text("as is") == "as is"
    assert result_text(None) == ""


def test_usage_counts_cache_reads_and_writes_as_input() -> None:
    usage = anthropic_usage(
        {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 20,
        }
    )
    assert (usage.input_tokens, usage.output_tokens) == (130, 5)
    assert (usage.cache_read_tokens, usage.cache_creation_tokens) == (100, 20)
    assert anthropic_usage(None).total_tokens == 0


@pytest.mark.parametrize("name", [THINKING_RECEIVED, PLAN_UPDATED, CONTEXT_USAGE_UPDATED])
def test_shared_custom_types_are_valid_custom_names(name: str) -> None:
    assert validate_event_type(name) == name
    assert not is_canonical(name)
