"""``asm demo``: a complete scripted coding session, stored and rendered live, then a summary.

Offline and deterministic: the scripted provider plays the demo scenario (two turns, two tool
calls, about 1.5 s) into the store, the events are printed in compact form as they are stored,
and the summary names the session, run, status, tokens, event count and store location.
"""

from __future__ import annotations

import typer

from agent_session_manager.cli import _output
from agent_session_manager.cli._live import LivePrinter
from agent_session_manager.cli._options import StoreOption
from agent_session_manager.cli._runtime import describe_store, open_cli_store, run_async

__all__ = ["demo"]


def demo(store: StoreOption = None) -> None:
    """Play a short scripted coding session into the store, rendered live, then summarise it.

    Offline (scripted provider). Every demo leaves one more session: see asm sessions list.

    Examples:
      asm demo
      asm demo --store memory://
    """
    raise typer.Exit(run_async(_demo(store)))


async def _demo(store_url: str | None) -> int:
    from agent_session_manager.cli._demo import (
        DEMO_AGENT,
        DEMO_PROMPT,
        DEMO_SYSTEM_PROMPT,
        demo_scenario,
    )
    from agent_session_manager.cli.commands.run import execute_prompt, exit_code
    from agent_session_manager.providers.protocol import AdapterOptions
    from agent_session_manager.providers.scripted import ScriptedAdapter
    from agent_session_manager.rendering import CompactRenderer

    async with open_cli_store(store_url) as store:
        printer = LivePrinter(store, CompactRenderer(color=_output.color_enabled()))
        result = await execute_prompt(
            store,
            ScriptedAdapter(demo_scenario()),
            printer,
            DEMO_PROMPT,
            session_id=None,
            options=AdapterOptions(),
            timeout=None,
            session_kwargs={
                "agent_id": DEMO_AGENT,
                "system_prompt": DEMO_SYSTEM_PROMPT,
                "tags": ("demo",),
                "metadata": {"source": "asm demo"},
            },
        )
        printer.finish()
        run = result.run
        _output.out()
        _output.print_fields(
            [
                ("session", run.session_id),
                ("run", run.id),
                ("status", str(run.status)),
                ("tokens", _output.fmt_tokens(run.token_usage)),
                ("events", str(printer.printed)),
                ("store", describe_store(store, store_url)),
            ],
            title="Demo finished",
        )
        _output.out()
        where = f" --store {store_url}" if store_url else ""
        _output.out(f"Next: asm sessions show {run.session_id}{where}")
        _output.out(f"      asm events {run.session_id} --format verbose{where}")
        return exit_code(result)
