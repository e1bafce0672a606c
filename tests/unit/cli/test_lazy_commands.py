"""The root ``asm`` group loads commands lazily: its static help table must match each command's
real help and list every command (tests/integration/cli checks, in a fresh interpreter, that
``asm --help`` imports no command module and ``asm run`` only its own)."""

from __future__ import annotations

import contextlib
import inspect
import io

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
