"""``asm run``: exit codes, stored outcomes, jsonl output, Ctrl-C and continuing a session."""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest

from agent_session_manager import SessionStore
from tests.support.asm_cli import CLI, LineReader, jsonl

TOOLS = {
    "model": "m-test",
    "steps": [
        {"text": "Checking.", "chunks": 2},
        {"tool_call": {"name": "bash", "input": {"command": "ls"}, "output": {"files": ["a"]}}},
        {"usage": {"input_tokens": 10, "output_tokens": 5}},
        {"end_turn": "tool_use"},
        {"text": "Done."},
        {"usage": {"input_tokens": 12, "output_tokens": 3}},
    ],
}
FAIL = {
    "steps": [
        {"text": "working"},
        {"fail": {"message": "upstream 503", "code": "provider_unavailable", "retryable": True}},
    ]
}


def _summary_ids(stderr: str) -> tuple[str, str]:
    """(session id, run id) from the summary line ``<status> · run <id> · session <id>``."""
    first = stderr.splitlines()[0].split(" · ")
    return first[2].removeprefix("session "), first[1].removeprefix("run ")


def test_completed_run_exits_0_and_stores_the_run(cli: CLI) -> None:
    result = cli.run("run", "--model", "my-model", "Summarise the README")
    assert result.code == 0, result.stderr
    assert 'You said: "Summarise the README"' in result.stdout
    assert "r+ my-model" in result.stdout
    assert result.stderr.startswith("completed · run run_")
    session_id, run_id = _summary_ids(result.stderr)
    run = cli.json("runs", "show", run_id)
    assert run["status"] == "completed"
    assert run["model"] == "my-model"
    assert run["token_usage"]["output_tokens"] > 0
    assert cli.json("sessions", "show", session_id)["session"]["status"] == "completed"


def test_failed_run_exits_1_with_one_error_line(cli: CLI) -> None:
    result = cli.run("run", "--scenario", cli.scenario(FAIL), "go")
    assert result.code == 1
    assert "! upstream 503" in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: upstream 503 [provider_unavailable]"]
    assert "Traceback" not in result.stderr
    _, run_id = _summary_ids(result.stderr)
    run = cli.json("runs", "show", run_id)
    assert run["status"] == "failed"
    assert run["error"]["code"] == "provider_unavailable"


def test_timeout_exits_1_and_stores_timed_out(cli: CLI) -> None:
    slow = cli.scenario({"steps": [{"text": "slow"}, {"delay": 20}]})
    result = cli.run("run", "--scenario", slow, "--timeout", "0.5", "go")
    assert result.code == 1
    assert "! timed out after 0.5s" in result.stdout
    _, run_id = _summary_ids(result.stderr)
    assert cli.json("runs", "show", run_id)["status"] == "timed_out"


def test_sigint_cancels_the_run_cleanly_and_exits_130(cli: CLI) -> None:
    slow = cli.scenario({"steps": [{"text": "waiting"}, {"delay": 30}]})
    process = cli.popen("run", "--scenario", slow, "--format", "jsonl", "go")
    reader = LineReader(process)
    try:
        # Once the streamed text is stored, the run is inside the 30 s delay.
        reader.wait_for(lambda line: json.loads(line)["type"] == "message_received")
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=20)
    finally:
        process.kill()
    rest = [json.loads(line) for line in reader.rest()]
    stderr = process.stderr.read() if process.stderr else ""
    assert code == 130, stderr
    assert "Traceback" not in stderr
    assert [event["type"] for event in rest] == ["run_cancelled", "session_cancelled"]
    assert rest[0]["data"]["reason"] == "interrupted (SIGINT)"
    run = cli.json("runs", "show", rest[0]["run_id"])
    assert run["status"] == "cancelled"
    session = cli.json("sessions", "show", rest[0]["session_id"])["session"]
    assert session["status"] == "cancelled"


def test_jsonl_is_exactly_the_stored_events(cli: CLI) -> None:
    result = cli.run("run", "--format", "jsonl", "--scenario", cli.scenario(TOOLS), "go")
    assert result.code == 0, result.stderr
    lines = jsonl(result.stdout)  # every stdout line is one JSON object
    session_id = lines[0]["session_id"]
    stored = cli.store(lambda store: store.get_events(session_id))
    assert lines == [event.to_dict() for event in stored]
    assert lines[0]["type"] == "session_created"
    assert lines[-1]["type"] == "session_completed"
    assert {"tool_call_started", "tool_call_completed", "run_completed"} <= {
        line["type"] for line in lines
    }


def test_verbose_format(cli: CLI) -> None:
    result = cli.run("run", "-f", "verbose", "--scenario", cli.scenario(TOOLS), "go")
    assert result.code == 0, result.stderr
    assert (
        '[tool_call_completed] tool_call_id=call_1 tool_name=bash tool_output={"files":["a"]}'
        in (result.stdout)
    )
    assert "--- " in result.stdout


def test_session_option_adds_runs_to_one_session_and_reuses_the_handle(cli: CLI) -> None:
    created = cli.run("sessions", "create", "--tag", "cont", "--system-prompt", "Be terse.")
    assert created.code == 0, created.stderr
    session_id = created.stdout.strip()
    first = cli.run("run", "--session", session_id, "first question")
    second = cli.run("run", "--session", session_id, "-f", "jsonl", "follow-up")
    assert first.code == 0, first.stderr
    assert second.code == 0, second.stderr
    # The first run activated the pending session (s>); the second printed only its own events.
    assert first.stdout.startswith("s> << first question")
    assert jsonl(second.stdout)[0]["type"] == "message_sent"

    shown = cli.json("sessions", "show", session_id)
    assert shown["session"]["status"] == "active"
    runs = shown["runs"]
    assert [r["status"] for r in runs] == ["completed", "completed"]
    assert runs[0]["provider_session_id"]
    assert runs[1]["provider_session_id"] == runs[0]["provider_session_id"]
    handle = shown["session"]["provider_handles"]["scripted"]["provider_session_id"]
    assert handle == runs[0]["provider_session_id"]

    async def system_prompts(store: SessionStore) -> list[Any]:
        return [
            e.data["content"] for e in await store.get_events(session_id, types=["message_sent"])
        ]

    assert cli.store(system_prompts) == ["first question", "follow-up"]


def test_session_option_refuses_terminal_and_unknown_sessions(cli: CLI) -> None:
    done = cli.run("run", "hello")
    session_id, _ = _summary_ids(done.stderr)
    again = cli.run("run", "--session", session_id, "more")
    assert again.code == 1
    again.assert_one_error_line(f"session {session_id} is completed")
    missing = cli.run("run", "--session", "ses_missing", "more")
    assert missing.code == 1
    missing.assert_one_error_line("session ses_missing not found")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--provider", "acp", "x"], "--provider acp needs the agent command"),
        (["--provider", "nope", "x"], "unknown provider 'nope'"),
        (["--permission-mode", "yolo", "x"], "invalid permission mode 'yolo'"),
        ([], "Missing argument 'PROMPT'"),
        (["   "], "PROMPT must not be empty"),
        (["--max-turns", "0", "x"], "--max-turns"),
        (["--format", "xml", "x"], "--format"),
        (["--cwd", "/definitely/not/here", "x"], "--cwd"),
    ],
)
def test_usage_errors_exit_2(cli: CLI, args: list[str], fragment: str) -> None:
    result = cli.run("run", *args)
    assert result.code == 2
    result.assert_one_error_line(fragment)


def test_malformed_scenario_is_a_usage_error_naming_the_step(cli: CLI) -> None:
    bad = cli.scenario({"steps": [{"text": "ok"}, {"tool_call": {"input": {}}}]})
    result = cli.run("run", "--scenario", bad, "x")
    assert result.code == 2
    result.assert_one_error_line("step 2 (tool_call): missing 'name'")


def test_run_options_are_accepted_and_the_system_prompt_stored(cli: CLI) -> None:
    result = cli.run(
        "run",
        "--permission-mode",
        "accept-edits",
        "--max-turns",
        "3",
        "--cwd",
        str(cli.tmp_path),
        "--system-prompt",
        "Be brief.",
        "hi",
    )
    assert result.code == 0, result.stderr
    session_id, _ = _summary_ids(result.stderr)
    session = cli.json("sessions", "show", session_id)["session"]
    assert session["context"]["system_prompt"] == "Be brief."


def test_prompt_from_stdin(cli: CLI) -> None:
    result = cli.run("run", "-", input="piped prompt\n")
    assert result.code == 0, result.stderr
    assert "<< piped prompt" in result.stdout


def test_colour_only_when_asked(cli: CLI) -> None:
    plain = cli.run("run", "hi")
    assert "\x1b[" not in plain.stdout
    env = {k: v for k, v in cli.env.items() if k != "NO_COLOR"}
    coloured = CLI({**env, "FORCE_COLOR": "1"}, cli.store_url, cli.tmp_path).run("run", "hi")
    assert coloured.code == 0, coloured.stderr
    assert "\x1b[0;34mr+\x1b[0m" in coloured.stdout
