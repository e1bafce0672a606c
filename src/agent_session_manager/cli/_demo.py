"""The script ``asm demo`` plays: a small, realistic coding session for the scripted provider.

Two agent turns: the agent streams a plan, lists the project with a ``bash`` tool, writes a
README with a ``write_file`` tool (whose output is a JSON object), streams its answer and
reports token usage; short pauses make the live rendering visible (the whole run takes about
1.5 s). Pure data: knows the ``Scenario`` builder, nothing about stores or terminals.
"""

from __future__ import annotations

from typing import Any

from agent_session_manager.providers.scripted import Scenario

DEMO_PROMPT = "Look around this project and add a short README."
DEMO_SYSTEM_PROMPT = "You are a careful coding agent. Explain what you do, then do it."
DEMO_AGENT = "demo-agent"
DEMO_MODEL = "scripted-coder-1"

_README = (
    "# demo-project\n\nA tiny example project.\n\n## Usage\n\n    pip install -e .\n    pytest\n"
)


def _typed(scenario: Scenario, text: str, *, pieces: int, pause: float) -> Scenario:
    """``text`` streamed in ``pieces`` chunks with ``pause`` seconds between them."""
    size = max(1, -(-len(text) // pieces))
    for start in range(0, len(text), size):
        scenario = scenario.event("message_streamed", {"delta": text[start : start + size]})
        scenario = scenario.delay(pause)
    return scenario.event("message_received", {"role": "assistant", "content": text})


def _tool(
    scenario: Scenario, call_id: str, name: str, tool_input: dict[str, Any], output: Any
) -> Scenario:
    """A tool call that takes a moment, so its start and end show separately."""
    started = {"tool_call_id": call_id, "tool_name": name, "tool_input": tool_input}
    completed = {"tool_call_id": call_id, "tool_name": name, "tool_output": output}
    return (
        scenario.event("tool_call_started", started)
        .delay(0.15)
        .event("tool_call_completed", completed)
        .delay(0.05)
    )


def demo_scenario() -> Scenario:
    """The demo run (deterministic; the same events every time)."""
    scenario = Scenario().with_model(DEMO_MODEL).delay(0.1)
    # Turn 1: plan, then look around.
    scenario = _typed(
        scenario,
        "I'll look at the project layout first, then write a README that fits it.",
        pieces=6,
        pause=0.04,
    )
    scenario = _tool(scenario, "call_1", "bash", {"command": "ls"}, "pyproject.toml\nsrc\ntests\n")
    scenario = scenario.usage(1240, 96, cache_read_tokens=800).end_turn("tool_use").delay(0.05)
    # Turn 2: write the file, then answer.
    scenario = _typed(
        scenario,
        "It's a Python package with tests and no README yet. Writing one now.",
        pieces=5,
        pause=0.04,
    )
    scenario = _tool(
        scenario,
        "call_2",
        "write_file",
        {"path": "README.md", "content": _README},
        {"path": "README.md", "bytes_written": len(_README.encode()), "created": True},
    )
    scenario = _typed(
        scenario,
        "Done: README.md describes the project and how to install and test it "
        "(pip install -e . then pytest).",
        pieces=7,
        pause=0.04,
    )
    return scenario.usage(1585, 142, cache_read_tokens=1200).with_stop_reason("end_turn")
