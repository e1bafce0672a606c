"""``python -m agent_session_manager.cli``: the same as the ``asm`` command."""

from agent_session_manager.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    main()
