"""``python -m agent_session_manager.cli``: the same as the ``asm`` command."""

from agent_session_manager.cli import main

if __name__ == "__main__":
    main()
