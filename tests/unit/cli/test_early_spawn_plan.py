"""The early-spawn parser of ``asm run``: it must start claude only for runs ``asm run`` accepts,
with exactly the command line the adapter would build, and stay out of everything else."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_session_manager import ClaudeAdapter, Message, RunRequest
from agent_session_manager.cli._early import claude_plan, parse_run
from agent_session_manager.cli._providers import adapter_options

ENV = {"ASM_CLAUDE_PATH": "/opt/claude", "PATH": "/nonexistent"}


def _plan(*args: str) -> tuple[list[str], str | None] | None:
    values = parse_run(list(args))
    return None if values is None else claude_plan(values, ENV)


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--provider", "claude", "Say hello"],
        ["run", "-p", "claude", "-m", "opus", "Say hello"],
        ["run", "Say hello", "--provider=Claude", "--max-turns", "3"],
        ["--debug", "--store", "memory://", "run", "-p", "claude", "--", "-starts-with-dash"],
        ["run", "-p", "claude", "--permission-mode", "accept-edits", "--system-prompt", "Be", "x"],
        ["run", "-p", "claude", "--permission-mode", "dangerously_skip_permissions", "x"],
        ["run", "-p", "claude", "--cwd", ".", "-f", "JSONL", "--timeout", "5", "x"],
        ["run", "-p", "claude", "--model", "", "x"],
    ],
)
def test_the_planned_command_line_is_the_adapters(
    args: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    values = parse_run(args)
    assert values is not None
    plan = claude_plan(values, ENV)
    assert plan is not None
    argv, cwd = plan
    options = adapter_options(
        model=values.get("model"),
        permission_mode=values.get("permission_mode", "default"),
        max_turns=int(values["max_turns"]) if "max_turns" in values else None,
        system_prompt=values.get("system_prompt"),
        cwd=Path(values["cwd"]) if "cwd" in values else None,
    )
    request = RunRequest(
        run_id="run_x",
        session_id="ses_x",
        messages=(Message(role="user", content=values["prompt"]),),
        options=options,
    )
    assert argv == ClaudeAdapter("/opt/claude").command(request)
    assert cwd == options.cwd


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["run"],
        ["sessions", "list"],
        ["--version", "run", "-p", "claude", "x"],
        ["run", "-p", "claude", "--help", "x"],
        ["run", "-p", "claude", "-h"],
        ["run", "-p", "claude", "two", "prompts"],
        ["run", "-p", "claude", "-"],
        ["run", "-p", "claude", "   "],
        ["run", "-pclaude", "x"],
        ["run", "-p=claude", "x"],
        ["run", "-p", "claude", "-p", "claude", "x"],
        ["run", "-p", "claude", "--unknown", "1", "x"],
        ["run", "-p", "claude", "--model", "--help", "x"],
        ["run", "x"],  # the scripted provider
        ["run", "-p", "codex", "x"],
        ["run", "-p", "claude", "--session", "ses_1", "x"],
        ["run", "-p", "claude", "--scenario", "s.json", "x"],
        ["run", "-p", "claude", "--acp-command", "a", "x"],
        ["run", "-p", "claude", "--permission-mode", "yolo", "x"],
        ["run", "-p", "claude", "--max-turns", "0", "x"],
        ["run", "-p", "claude", "--max-turns", "two", "x"],
        ["run", "-p", "claude", "--timeout", "0", "x"],
        ["run", "-p", "claude", "--timeout", "nan", "x"],
        ["run", "-p", "claude", "--format", "yaml", "x"],
        ["run", "-p", "claude", "--cwd", "/nonexistent/dir", "x"],
        ["--store", "run", "-p", "claude", "x"],
        ["--config"],
        ["run", "-p", "claude", "x" * 100_001],
    ],
)
def test_anything_else_is_left_to_the_normal_path(args: list[str]) -> None:
    assert _plan(*args) is None


def test_no_binary_means_no_early_spawn() -> None:
    values = parse_run(["run", "-p", "claude", "x"])
    assert values is not None
    assert claude_plan(values, {"PATH": "/nonexistent"}) is None


def test_the_early_parser_knows_every_option_of_asm_run() -> None:
    """An option it does not know sends every run using it down the slow path (still correct,
    since the adapter only adopts an identical command line): keep the two lists equal."""
    import typer

    from agent_session_manager.cli import _early
    from agent_session_manager.cli.commands import run

    app = typer.Typer(add_completion=False)
    app.command()(run.run)
    command = typer.main.get_command(app)
    declared = {
        name
        for param in command.params
        if param.param_type_name == "option"
        for name in (*param.opts, *param.secondary_opts)
    } - {"--help"}
    assert declared == set(_early._RUN_OPTIONS)
