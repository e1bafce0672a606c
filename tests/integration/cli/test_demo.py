"""``asm demo``: a complete scripted session rendered live, a summary, one session per demo."""

from __future__ import annotations

import getpass
import re
from pathlib import Path
from urllib.parse import urlsplit

from agent_session_manager.testing.postgres import postgres_url_or_skip, temporary_database
from tests.support.asm_cli import CLI, base_env


def test_demo_renders_live_and_summarises(cli: CLI) -> None:
    result = cli.run("demo")
    assert result.code == 0, result.stderr
    out = result.stdout
    # The compact rendering, in order: session, input, run, streamed plan, tools, usage, end.
    for token in (
        "s+ s> << Look around this project",
        "r+ scripted-coder-1 >> I'll look at the project layout first",
        "t+bash t-bash tr:pyproject.toml src tests",
        'tr:{"path":"README.md","bytes_written":',
        "tk:1240/96",
        "tk:1585/142",
        "r-:end s-",
        "2 tools",
    ):
        assert token in out
    assert out.index("t+bash") < out.index("t+write_file") < out.index("r-:end")
    session_id = re.search(r"^session\s+(ses_[0-9a-f]{32})$", out, re.M)
    run_id = re.search(r"^run\s+(run_[0-9a-f]{32})$", out, re.M)
    assert session_id
    assert run_id
    assert re.search(r"^status\s+completed$", out, re.M)
    assert re.search(r"^tokens\s+2,825 in / 238 out / 3,063 total$", out, re.M)
    events = re.search(r"^events\s+(\d+)$", out, re.M)
    assert events
    assert re.search(rf"^store\s+sqlite:///{re.escape(str(cli.tmp_path))}/asm.db$", out, re.M)

    stored = cli.store(lambda store: store.get_events(session_id.group(1)))
    assert int(events.group(1)) == len(stored)
    assert stored[-1].type == "session_completed"
    run = cli.json("runs", "show", run_id.group(1))
    assert run["status"] == "completed"
    assert run["turn_count"] == 2


def test_demo_twice_leaves_two_sessions_in_the_default_store(tmp_path: Path) -> None:
    # No ASM_STORE: the default store under the (temporary) user data directory.
    cli = CLI(base_env(tmp_path), "", tmp_path)
    first = cli.run("demo")
    second = cli.run("demo")
    assert first.code == 0, first.stderr
    assert second.code == 0, second.stderr
    default_db = tmp_path / "xdg-data" / "agent-session-manager" / "asm.db"
    assert f"sqlite:///{default_db}" in first.stdout
    assert default_db.exists()
    sessions = cli.json("sessions", "list")
    assert len(sessions) == 2
    assert {s["status"] for s in sessions} == {"completed"}
    assert all(s["tags"] == ["demo"] for s in sessions)
    listing = cli.run("sessions", "list")
    for session in sessions:
        assert session["id"] in listing.stdout


def test_demo_names_a_store_set_only_in_the_config_file_by_its_masked_url(cli: CLI) -> None:
    # The summary used to show "PostgresSessionStore": it looked at --store and $ASM_STORE only.
    with temporary_database(postgres_url_or_skip(), prefix="asm_pg_demo") as url:
        parts = urlsplit(url)
        user = parts.username or getpass.getuser()
        host = parts.netloc.rpartition("@")[2]
        with_password = parts._replace(netloc=f"{user}:s3cret@{host}").geturl()
        config = cli.tmp_path / "asm.toml"
        config.write_text(f'store = "{with_password}"\n')
        del cli.env["ASM_STORE"]
        result = cli.run("--config", str(config), "demo")
    assert result.code == 0, result.stderr
    masked = parts._replace(netloc=f"{user}:***@{host}").geturl()
    assert re.search(rf"^store\s+{re.escape(masked)}$", result.stdout, re.M), result.stdout
    assert "s3cret" not in result.stdout + result.stderr
