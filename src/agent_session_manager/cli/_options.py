"""Command-line options shared by several ``asm`` commands (``--store``, ``--json``, ``--format``).

Declared once as ``Annotated`` types so every command spells and documents them the same way.
Knows typer; nothing about stores or runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from agent_session_manager.cli._live import OutputFormat

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        metavar="URL",
        help=(
            "Store to use: sqlite:///path.db, memory:// or a file path. "
            "Default: $ASM_STORE, else asm.db in the user data directory."
        ),
        show_default=False,
    ),
]

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the records as JSON instead of a table.")
]

FormatOption = Annotated[
    OutputFormat,
    typer.Option(
        "--format",
        "-f",
        help="compact: one-line tokens; verbose: one line per event; jsonl: stored JSON.",
        case_sensitive=False,
    ),
]
