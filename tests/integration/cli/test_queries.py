"""``asm sessions``, ``asm runs`` and ``asm events``: tables, JSON and filters over a real store."""

from __future__ import annotations

import json
import signal
import threading

import pytest

from tests.support.asm_cli import CLI, LineReader, jsonl, make_cli

TOOLS = {
    "steps": [
        {"text": "Looking."},
        {"tool_call": {"name": "bash", "input": {"command": "ls"}, "output": "a\nb"}},
        {"tool_call": {"name": "edit", "input": {}, "error": "denied"}},
        {"text": "Done."},
    ]
}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> CLI:
    """One store for the read-only tests of this module."""
    return make_cli(tmp_path_factory.mktemp("queries"))


@pytest.fixture(scope="module")
def populated(shared: CLI) -> dict[str, str]:
    """Two sessions: ``tagged`` (active, two runs, tag 'review') and ``single`` (one run_once)."""
    cli = shared
    tagged = cli.run("sessions", "create", "--tag", "review", "--agent", "reviewer").stdout.strip()
    tools = cli.scenario(TOOLS)
    first = cli.run("run", "--session", tagged, "--scenario", tools, "-f", "jsonl", "one")
    second = cli.run("run", "--session", tagged, "-f", "jsonl", "two")
    single = cli.run("run", "-f", "jsonl", "solo")
    for result in (first, second, single):
        assert result.code == 0, result.stderr
    return {
        "tagged": tagged,
        "run1": jsonl(first.stdout)[-1]["run_id"],
        "run2": jsonl(second.stdout)[-1]["run_id"],
        "single": jsonl(single.stdout)[0]["session_id"],
    }


def test_sessions_list_filters_and_formats(shared: CLI, populated: dict[str, str]) -> None:
    cli = shared
    everything = cli.json("sessions", "list")
    assert [s["id"] for s in everything] == [populated["single"], populated["tagged"]]
    assert [s["id"] for s in cli.json("sessions", "list", "--status", "active")] == [
        populated["tagged"]
    ]
    assert [s["id"] for s in cli.json("sessions", "list", "--tag", "review")] == [
        populated["tagged"]
    ]
    assert [s["id"] for s in cli.json("sessions", "list", "--agent", "reviewer")] == [
        populated["tagged"]
    ]
    assert cli.json("sessions", "list", "--tag", "review", "--tag", "other") == []
    assert len(cli.json("sessions", "list", "--limit", "1")) == 1
    table = cli.run("sessions", "list")
    assert table.code == 0
    assert "SESSION" in table.stdout
    assert populated["tagged"] in table.stdout
    assert "reviewer" in table.stdout
    bad = cli.run("sessions", "list", "--status", "sleeping")
    assert bad.code == 2
    bad.assert_one_error_line("invalid status 'sleeping'")


def test_sessions_show(shared: CLI, populated: dict[str, str]) -> None:
    cli = shared
    shown = cli.json("sessions", "show", populated["tagged"])
    assert shown["session"]["id"] == populated["tagged"]
    assert shown["session"]["tags"] == ["review"]
    assert [r["id"] for r in shown["runs"]] == [populated["run1"], populated["run2"]]
    text = cli.run("sessions", "show", populated["tagged"]).stdout
    assert f"Session {populated['tagged']}" in text
    assert "active" in text
    assert populated["run1"] in text
    assert populated["run2"] in text


def test_runs_list_and_show(shared: CLI, populated: dict[str, str]) -> None:
    cli = shared
    runs = cli.json("runs", "list", populated["tagged"])
    assert [r["id"] for r in runs] == [populated["run1"], populated["run2"]]
    table = cli.run("runs", "list", populated["tagged"]).stdout
    assert populated["run1"] in table
    assert "completed" in table
    run = cli.json("runs", "show", populated["run1"])
    assert run["session_id"] == populated["tagged"]
    assert run["output"]["content"] == "Looking.\n\nDone."
    text = cli.run("runs", "show", populated["run1"]).stdout
    assert f"Run {populated['run1']}" in text
    assert "prompt" in text
    assert "one" in text
    assert "Looking." in text
    missing = cli.run("runs", "list", "ses_nope")
    assert missing.code == 1
    missing.assert_one_error_line("session ses_nope not found")


def test_events_filters(shared: CLI, populated: dict[str, str]) -> None:
    cli = shared
    session = populated["tagged"]
    every = jsonl(cli.run("events", session, "-f", "jsonl").stdout)
    assert [e["sequence_number"] for e in every] == list(range(1, len(every) + 1))

    def seqs(*args: str) -> list[int]:
        result = cli.run("events", session, "-f", "jsonl", *args)
        assert result.code == 0, result.stderr
        return [e["sequence_number"] for e in jsonl(result.stdout)]

    assert seqs("--after", "3", "--before", "7") == [4, 5, 6]
    assert seqs("--limit", "2") == [1, 2]
    assert seqs("--after", "2", "--limit", "2") == [3, 4]
    tools = jsonl(
        cli.run(
            "events",
            session,
            "-f",
            "jsonl",
            "--type",
            "tool_call_started",
            "--type",
            "tool_call_failed",
        ).stdout
    )
    assert [e["type"] for e in tools] == [
        "tool_call_started",
        "tool_call_started",
        "tool_call_failed",
    ]
    second_run = jsonl(cli.run("events", session, "-f", "jsonl", "--run", populated["run2"]).stdout)
    assert second_run
    assert {e["run_id"] for e in second_run} == {populated["run2"]}

    compact = cli.run("events", session, "--type", "tool_call_failed")
    assert compact.stdout == "t!edit denied\n1 event, 0 tools\n"
    verbose = cli.run("events", session, "-f", "verbose", "--limit", "1").stdout
    assert verbose.startswith("#1 ")
    assert "[session_created] agent_id=reviewer" in verbose


def test_events_follow_picks_up_events_from_another_process(cli: CLI) -> None:
    session = cli.run("sessions", "create").stdout.strip()
    follower = cli.popen("events", session, "--follow", "--format", "jsonl")
    reader = LineReader(follower)
    try:
        first = json.loads(reader.wait_for(lambda line: True))
        assert first["type"] == "session_created"
        writer = cli.run("run", "--session", session, "from another process")
        assert writer.code == 0, writer.stderr
        done = reader.wait_for(lambda line: json.loads(line)["type"] == "run_completed")
        follower.send_signal(signal.SIGINT)
        code = follower.wait(timeout=20)
    finally:
        follower.kill()
    stderr = follower.stderr.read() if follower.stderr else ""
    assert code in (0, 130)
    assert "Traceback" not in stderr
    assert stderr.strip() == ""
    followed = [json.loads(line) for line in reader.seen]
    stored = cli.store(lambda store: store.get_events(session))
    assert followed == [event.to_dict() for event in stored]
    assert json.loads(done)["data"]["stop_reason"] == "end_turn"


def test_events_follow_stops_at_limit(cli: CLI) -> None:
    session = cli.run("sessions", "create").stdout.strip()
    follower = cli.popen("events", session, "--follow", "-f", "jsonl", "--limit", "3")
    reader = LineReader(follower)
    try:
        reader.wait_for(lambda line: True)
        writer = threading.Thread(target=cli.run, args=("run", "--session", session, "x"))
        writer.start()
        code = follower.wait(timeout=20)
        writer.join()
    finally:
        follower.kill()
    assert code == 0
    assert len(reader.seen) + len(reader.rest()) == 3


def test_events_errors(cli: CLI) -> None:
    missing = cli.run("events", "ses_nope")
    assert missing.code == 1
    missing.assert_one_error_line("session ses_nope not found")
    bad_type = cli.run("events", "ses_nope", "--type", "not a type")
    assert bad_type.code == 2
    bad_type.assert_one_error_line("invalid event type 'not a type'")


def test_sessions_delete_cascades_and_refuses_live_sessions(cli: CLI) -> None:
    run = cli.run("run", "hello")
    assert run.code == 0, run.stderr
    done_id = cli.json("sessions", "list")[0]["id"]
    live_id = cli.run("sessions", "create").stdout.strip()

    refused = cli.run("sessions", "delete", done_id, live_id)
    assert refused.code == 1
    refused.assert_one_error_line("not finished", live_id)
    assert len(cli.json("sessions", "list")) == 2  # nothing deleted

    deleted = cli.run("sessions", "delete", done_id)
    assert deleted.code == 0, deleted.stderr
    assert deleted.stdout.strip() == f"deleted {done_id}"
    assert cli.run("events", done_id).code == 1  # the session and its log are gone
    assert cli.run("sessions", "delete", live_id, "--force").code == 0
    assert cli.json("sessions", "list") == []
    missing = cli.run("sessions", "delete", "ses_nope")
    missing.assert_one_error_line("ses_nope")


def test_sessions_list_time_window(cli: CLI) -> None:
    assert cli.run("run", "one").code == 0
    assert len(cli.json("sessions", "list", "--since", "1h")) == 1
    assert cli.json("sessions", "list", "--until", "2000-01-01") == []
    assert len(cli.json("sessions", "list", "--since", "2000-01-01", "--until", "2999-01-01")) == 1
    bad = cli.run("sessions", "list", "--since", "yesterday-ish")
    assert bad.code == 2


def test_sessions_create_records_the_chosen_provider(cli: CLI) -> None:
    created = cli.run("sessions", "create", "--provider", "shell", "--json")
    assert created.code == 0, created.stderr
    assert json.loads(created.stdout)["provider"] == "shell"
    bad = cli.run("sessions", "create", "--provider", "nope")
    assert bad.code == 2
