"""Errors are one line on stderr without a traceback (unless --debug); help has examples."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.asm_cli import CLI


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["sessions", "show", "ses_missing"], 1, "session ses_missing not found"),
        (["runs", "show", "run_missing"], 1, "run run_missing not found"),
        (["sessions", "list", "--store", "bogus://x"], 2, "unsupported store URL scheme"),
        (["--store", "postgresql://127.0.0.1:1/db", "sessions", "list"], 1, "PostgreSQL"),
        (["frobnicate"], 2, "No such command 'frobnicate'"),
        (["sessions", "list", "--limit", "0"], 2, "--limit"),
    ],
)
def test_errors_are_one_line(cli: CLI, args: list[str], code: int, fragment: str) -> None:
    result = cli.run(*args)
    assert result.code == code
    result.assert_one_error_line(fragment)
    assert result.stdout == ""


def test_debug_shows_the_traceback(cli: CLI) -> None:
    result = cli.run("--debug", "runs", "show", "run_missing")
    assert result.code == 1
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "error: run run_missing not found"


def test_global_store_option(cli: CLI) -> None:
    other = f"sqlite:///{cli.tmp_path}/other.db"
    result = cli.run("--store", other, "run", "hi")
    assert result.code == 0, result.stderr
    assert len(cli.json("--store", other, "sessions", "list")) == 1
    assert cli.json("sessions", "list") == []


def _leaf_commands() -> list[list[str]]:
    """Every runnable ``asm`` command, found in the app itself (so new ones are covered)."""
    import typer

    from agent_session_manager.cli.app import app

    found: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        # Duck-typed: typer may bring its own copy of click, whose Group is another class.
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
        else:
            found.append(path)

    walk(typer.main.get_command(app), [])
    return found


COMMANDS = _leaf_commands()
#: Commands that only read configuration; every other command opens a store.
NO_STORE = {("config", "show")}


def test_the_command_list_is_complete() -> None:
    names = {" ".join(c) for c in COMMANDS}
    assert {"demo", "run", "events", "sessions list", "runs show", "config show"} <= names
    assert {"db upgrade", "export", "import", "prune", "usage", "sessions delete"} <= names


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_every_command_has_help_with_an_example(cli: CLI, command: list[str]) -> None:
    result = cli.run(*command, "--help")
    assert result.code == 0, result.stderr
    assert "Example" in result.stdout
    assert f"asm {' '.join(command)}" in result.stdout.replace("  ", " ")
    if tuple(command) not in NO_STORE:
        assert "--store" in result.stdout


def test_top_level_help_and_version(cli: CLI) -> None:
    for args in ([], ["--help"], ["sessions"], ["runs"]):
        result = cli.run(*args)
        assert result.code == 0, args
        assert "Usage: asm" in result.stdout
    assert cli.run("--version").stdout.startswith("asm ")


def test_the_asm_console_script_works(cli: CLI) -> None:
    script = Path(sys.executable).with_name("asm")
    if not script.exists():
        found = shutil.which("asm")
        if found is None:
            pytest.skip("the asm console script is not installed")
        script = Path(found)
    done = subprocess.run(
        [str(script), "sessions", "list", "--json"],
        env=cli.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
