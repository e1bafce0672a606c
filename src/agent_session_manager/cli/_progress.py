"""Live progress for ``asm run`` on a terminal: a status line under the streaming output.

The status line shows a spinner, the elapsed time, the tokens used so far and the cost once known;
the rendered events scroll above it. Streamed text arrives in pieces that do not end lines, so the
unfinished line is kept inside the live region (next to the status) and printed for good once it
ends. Used only when stdout is a terminal; knows rich and the ``Event`` value, nothing about
stores or runs.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

if TYPE_CHECKING:
    from agent_session_manager.core.events import Event


class TerminalProgress:
    """A context manager: ``write`` takes rendered text, ``observe`` takes each stored event."""

    def __init__(self, console: Console, *, label: str = "running") -> None:
        self._console = console
        self._label = label
        self._started = time.monotonic()
        self._partial = ""
        self._input_tokens = 0
        self._output_tokens = 0
        self._cost: float | None = None
        self._events = 0
        self._spinner = Spinner("dots", style="cyan")
        self._live = Live(
            self._view(),
            console=console,
            refresh_per_second=8,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
            get_renderable=self._view,
        )

    def __enter__(self) -> TerminalProgress:
        self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._live.stop()
        if self._partial:
            self._console.print(Text.from_ansi(self._partial), soft_wrap=True)
            self._partial = ""

    def write(self, text: str) -> None:
        """Print finished lines above the status line; keep an unfinished one in the region."""
        *finished, self._partial = (self._partial + text).split("\n")
        for line in finished:
            self._live.console.print(Text.from_ansi(line), soft_wrap=True)
        self._live.refresh()

    def observe(self, event: Event) -> None:
        """Count tokens and cost as the events arrive."""
        self._events += 1
        data = event.data
        if event.type == "token_usage_updated":
            self._input_tokens += _int(data.get("input_tokens"))
            self._output_tokens += _int(data.get("output_tokens"))
        elif event.type == "run_completed":
            cost = data.get("cost_usd")
            if isinstance(cost, int | float):
                self._cost = float(cost)
        elif event.type in ("run_failed", "run_cancelled", "run_timed_out"):
            self._label = event.type.removeprefix("run_").replace("_", " ")

    def status(self) -> str:
        """The status text (without the spinner), e.g. ``running · 3.2s · 1,240/96 tokens``."""
        parts = [
            self._label,
            f"{time.monotonic() - self._started:.1f}s",
            f"{self._input_tokens:,}/{self._output_tokens:,} tokens",
            f"{self._events} events",
        ]
        if self._cost is not None:
            parts.append(f"${self._cost:.4f}")
        return " · ".join(parts) + " · Ctrl-C cancels"

    def _view(self) -> RenderableType:
        self._spinner.update(text=Text(self.status(), style="dim"))
        if self._partial:
            return Group(Text.from_ansi(self._partial), self._spinner)
        return self._spinner


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def terminal_progress() -> TerminalProgress:
    """A progress display on this process's terminal (call it only when stdout is a TTY)."""
    return TerminalProgress(Console(highlight=False))
