"""Pure domain values and rules: no I/O, no asyncio, no drivers.

Everything here can be used (and tested) without an event loop, a database or a provider.
"""

__all__: list[str] = []
