"""The root ``asm`` group loads commands lazily: its static help table must match each command's
real help, ``asm --help`` must list every command without importing any, and ``asm run`` must
import only the run command's module."""

from __future__ import annotations

import contextlib
import inspect
import io
import subprocess
import sys

import pytest
import typer

from agent_session_manager.cli.app import COMMANDS, CommandEntry, LazyGroup, app, load_command


def _first_paragraph(text: str) -> str:
    return inspect.cleandoc(text).split("\n\n")[0].replace("\n", " ").strip()


@pytest.mark.parametrize("entry", COMMANDS, ids=[e.name for e in COMMANDS])
def test_the_help_table_matches_each_commands_real_help(entry: CommandEntry) -> None:
    command = load_command(entry)
    assert command.name == entry.name
    assert entry.help == _first_paragraph(command.short_help or command.help or "")


def test_the_table_names_are_unique() -> None:
    names = [entry.name for entry in COMMANDS]
    assert len(names) == len(set(names))


def _help_text(group: typer.core.TyperGroup) -> str:
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(typer.Exit):
        group.main(["--help"], prog_name="asm", standalone_mode=False)
    return out.getvalue()


def test_help_from_the_table_is_the_help_of_the_loaded_commands() -> None:
    lazy = typer.main.get_command(app)
    assert isinstance(lazy, LazyGroup)
    listed = _help_text(lazy)
    loaded = typer.main.get_command(app)
    assert isinstance(loaded, LazyGroup)
    for name in loaded.list_commands(None):  # every command really imported and built
        loaded.commands[name]
    assert _help_text(loaded) == listed
    for entry in COMMANDS:
        assert entry.name in listed


def _modules_after(*args: str) -> list[str]:
    code = (
        "import sys, contextlib, io\n"
        "from agent_session_manager.cli.app import run_cli\n"
        "quiet = io.StringIO()\n"
        "with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):\n"
        f"    run_cli({list(args)!r})\n"
        "print(' '.join(sorted(m for m in sys.modules\n"
        "      if m.startswith('agent_session_manager.cli.commands.'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_top_level_help_imports_no_command_module() -> None:
    assert _modules_after("--help") == []


def test_a_command_imports_only_its_own_module() -> None:
    assert _modules_after("run", "--help") == ["agent_session_manager.cli.commands.run"]


def test_an_unknown_command_is_not_found() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, LazyGroup)
    assert group.get_command(None, "frobnicate") is None  # type: ignore[arg-type]
    assert "frobnicate" not in group.commands


def test_the_command_table_behaves_as_a_mapping() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, LazyGroup)
    commands = group.commands
    assert len(commands) == len(COMMANDS)
    del commands["usage"]  # never loaded
    del commands["db"]
    commands["db"] = load_command(next(e for e in COMMANDS if e.name == "db"))
    assert "usage" not in commands
    assert list(commands)[-1] == "db"
    with pytest.raises(KeyError):
        del commands["usage"]
