"""The CLI's own output functions: plain lines, JSON, rich tables, colour detection, formatting.

Everything the ``asm`` command writes goes through here (stdout for results, stderr for errors
and summaries), so the rest of the CLI never calls ``print``. Knows output conventions only; it
never reads a store or runs anything.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
import typer

if TYPE_CHECKING:
    from rich.console import Console

    from agent_session_manager.core.usage import TokenUsage


def out(text: str = "", *, nl: bool = True) -> None:
    """Write ``text`` to stdout (flushed, so live output shows at once).

    ANSI codes are kept: text carries them only when :func:`color_enabled` said so.
    """
    typer.echo(text, nl=nl, color=True)


def err(text: str = "", *, nl: bool = True) -> None:
    """Write ``text`` to stderr."""
    typer.echo(text, err=True, nl=nl)


def error_line(message: str) -> None:
    """The one-line form every error takes: ``error: <message>`` on stderr."""
    first, *_ = (message.strip() or "unknown error").splitlines()
    typer.echo(f"error: {first}", err=True)


def print_json(value: Any) -> None:
    """``value`` as indented JSON on stdout."""
    text = orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    typer.echo(text)


def json_text(value: Any) -> str:
    """``value`` as compact JSON (anything JSON cannot encode shown with ``str``)."""
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def color_enabled(stream: Any = None) -> bool:
    """Whether to colour output on ``stream`` (stdout): a TTY, and neither ``NO_COLOR`` nor
    ``TERM=dumb``; ``FORCE_COLOR`` turns colour on anywhere."""
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    target = stream if stream is not None else sys.stdout
    isatty = getattr(target, "isatty", None)
    return bool(isatty and isatty())


def console() -> Console:
    """A rich console for tables on stdout; wide when piped, so ids are never cut."""
    from rich.console import Console

    width = None if color_enabled() or "COLUMNS" in os.environ else 200
    return Console(width=width, highlight=False, soft_wrap=False)


def print_table(
    columns: Sequence[str], rows: Iterable[Sequence[str]], *, title: str | None = None
) -> None:
    """A borderless table with a header row."""
    from rich import box
    from rich.table import Table

    table = Table(
        title=title, box=box.SIMPLE_HEAD, show_edge=False, title_justify="left", pad_edge=False
    )
    for name in columns:
        table.add_column(name, no_wrap=True, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console().print(table)


def print_fields(fields: Sequence[tuple[str, str]], *, title: str | None = None) -> None:
    """``name  value`` lines with the names aligned; continuation lines of a value indented."""
    bold = color_enabled()
    if title:
        out(f"\x1b[1m{title}\x1b[0m" if bold else title)
    width = max((len(name) for name, _ in fields), default=0)
    for name, value in fields:
        first, *rest = value.splitlines() or [""]
        out(f"{name:<{width}}  {first}".rstrip())
        for line in rest:
            out(f"{'':<{width}}  {line}".rstrip())


def fmt_time(value: datetime | None) -> str:
    """UTC timestamp to the second, or ``-``."""
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def fmt_tokens(usage: TokenUsage) -> str:
    """``1,200 in / 85 out / 1,285 total``."""
    return f"{usage.input_tokens:,} in / {usage.output_tokens:,} out / {usage.total_tokens:,} total"


def fmt_duration(ms: float | None) -> str:
    """``850 ms``, ``12.3 s``, ``4 m 05 s`` or ``-``."""
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} m {rest:02d} s"


def fmt_bytes(size: int) -> str:
    """``512 B``, ``1.5 KiB``, ``338.2 MiB``, ``2.1 GiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def fmt_cost(cost: float | None) -> str:
    return "-" if cost is None else f"${cost:.4f}"


def one_line(text: str, limit: int = 80) -> str:
    """``text`` with whitespace collapsed, cut at ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
