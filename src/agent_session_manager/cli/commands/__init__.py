"""The ``asm`` subcommands, one module per command group; each imports its heavy dependencies
(manager, store backends, providers) inside the command function, never at import time."""

__all__: list[str] = []
