"""Session stores: the ``SessionStore`` port and its backends (memory, SQLite)."""

__all__: list[str] = []
