"""Session stores: the ``SessionStore`` port and its backends (memory, SQLite)."""
