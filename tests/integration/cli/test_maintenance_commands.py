"""``asm export``/``import``/``prune``/``usage`` and ``asm sessions search``, run as real
subprocesses against temporary SQLite stores."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agent_session_manager import (
    Event,
    Session,
    SessionStatus,
    SessionStore,
    TokenUsage,
    open_store,
)
from tests.support.asm_cli import CLI
from tests.support.maintenance_data import add_session

NOW = datetime.now(UTC)


async def _dump(store: SessionStore, session_id: str) -> dict[str, Any]:
    return {
        "session": (await store.get_session(session_id)).to_dict(),
        "runs": [r.to_dict() for r in await store.list_runs(session_id)],
        "events": [e.to_dict() for e in await store.get_events(session_id)],
    }


def _dump_at(cli: CLI, url: str, session_id: str) -> dict[str, Any]:
    import asyncio

    async def main() -> dict[str, Any]:
        async with await open_store(url) as store:
            return await _dump(store, session_id)

    return asyncio.run(main())


def test_export_then_import_into_another_store(cli: CLI, tmp_path: Path) -> None:
    async def seed(store: SessionStore) -> Session:
        session = await add_session(store, runs=2, now=NOW, metadata={"ü": "✓"})
        await add_session(store, runs=1, now=NOW)
        return session

    session = cli.store(seed)
    original = _dump_at(cli, cli.store_url, session.id)

    to_stdout = cli.run("export", session.id)
    assert to_stdout.code == 0, to_stdout.stderr
    lines = [json.loads(line) for line in to_stdout.stdout.splitlines()]
    assert lines[0]["format"] == "agent-session-manager/session-bundle"
    assert lines[-1] == {"kind": "end", "runs": 2, "events": 17, "artifacts": 0}

    bundle = tmp_path / "out" / "bundle.jsonl"
    to_file = cli.run("export", session.id, "-o", str(bundle))
    assert to_file.code == 0, to_file.stderr
    assert to_file.stdout == ""
    assert bundle.read_text().splitlines()[1:] == to_stdout.stdout.splitlines()[1:]

    other = f"sqlite:///{tmp_path}/other.db"
    imported = cli.run("import", str(bundle), "--store", other)
    assert imported.code == 0, imported.stderr
    assert imported.stdout.strip() == f"imported {session.id}: 2 runs, 17 events"
    assert _dump_at(cli, other, session.id) == original

    again = cli.run("import", str(bundle), "--store", other)
    assert again.code == 1
    again.assert_one_error_line("already exists", "--replace")

    replaced = cli.run(
        "import", "-", "--replace", "--json", "--store", other, input=to_stdout.stdout
    )
    assert replaced.code == 0, replaced.stderr
    assert json.loads(replaced.stdout)["replaced"] is True
    assert _dump_at(cli, other, session.id) == original


def test_export_and_import_errors(cli: CLI, tmp_path: Path) -> None:
    missing = cli.run("export", "ses_missing")
    assert missing.code == 1
    missing.assert_one_error_line("ses_missing")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"format": "something else"}\n')
    bad = cli.run("import", str(broken))
    assert bad.code == 1
    bad.assert_one_error_line("not a session bundle")
    absent = cli.run("import", str(tmp_path / "nope.jsonl"))
    assert absent.code == 1
    absent.assert_one_error_line("no such file")


def test_prune_dry_run_reports_and_apply_deletes_the_same(cli: CLI) -> None:
    async def seed(store: SessionStore) -> list[str]:
        old = [await add_session(store, age_days=age, now=NOW, runs=1) for age in (40, 50)]
        await add_session(store, age_days=40, now=NOW, status=SessionStatus.ACTIVE)
        await add_session(store, age_days=40, now=NOW, tags=("pinned",))
        await add_session(store, age_days=1, now=NOW)
        return sorted(s.id for s in old)

    old_ids = cli.store(seed)
    assert cli.run("prune").code == 2

    dry = cli.run("prune", "--ttl-days", "30", "--dry-run", "--json")
    assert dry.code == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["dry_run"] is True
    assert sorted(s["session_id"] for s in report["sessions"]) == old_ids
    assert report["totals"]["sessions"] == 2
    assert report["totals"]["events"] == 2 * 9
    assert len(cli.json("sessions", "list")) == 5  # nothing deleted

    text = cli.run("prune", "--ttl-days", "30", "--dry-run")
    assert text.stdout.startswith("dry run: would delete 2 sessions, 2 runs, 18 events")

    applied = cli.run("prune", "--ttl-days", "30", "--json")
    assert applied.code == 0, applied.stderr
    done = json.loads(applied.stdout)
    assert done["dry_run"] is False
    assert done["sessions"] == report["sessions"]
    left = {s["id"] for s in cli.json("sessions", "list")}
    assert len(left) == 3
    assert not left & set(old_ids)


def test_prune_of_runs_deletes_older_runs_with_their_events(cli: CLI) -> None:
    session = cli.store(lambda store: add_session(store, runs=3, now=NOW))
    before = cli.store(lambda store: _dump(store, session.id))
    result = cli.run("prune", "--keep-runs", "1")
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("deleted 0 sessions, 2 runs, ")
    after = cli.store(lambda store: _dump(store, session.id))
    assert [r["id"] for r in after["runs"]] == [before["runs"][2]["id"]]
    doomed = {r["id"] for r in before["runs"][:2]}
    # The remaining events keep their sequence numbers.
    assert after["events"] == [e for e in before["events"] if e.get("run_id") not in doomed]
    assert cli.run("prune", "--keep-runs", "-1").code == 2


def test_usage_by_provider_and_agent(cli: CLI) -> None:
    async def seed(store: SessionStore) -> None:
        await add_session(
            store,
            agent="coder",
            provider="claude",
            runs=2,
            now=NOW,
            usage=TokenUsage(input_tokens=100, output_tokens=10),
            cost=0.5,
        )
        await add_session(
            store,
            agent="reviewer",
            provider="codex",
            runs=1,
            now=NOW,
            usage=TokenUsage(input_tokens=5, output_tokens=5),
            cost=None,
        )

    cli.store(seed)
    by_provider = cli.json("usage", "--by", "provider")
    rows = {row["key"]: row for row in by_provider["rows"]}
    assert rows["claude"]["total_tokens"] == 220
    assert rows["claude"]["cost_usd"] == 1.0
    assert rows["codex"]["runs_without_cost"] == 1
    assert by_provider["total"]["runs"] == 3
    table = cli.run("usage", "--by", "agent")
    assert table.code == 0, table.stderr
    assert "coder" in table.stdout
    assert "$1.0000" in table.stdout
    assert cli.run("usage", "--by", "model").code == 2


def test_sessions_search_time_window_text_and_cursor(cli: CLI) -> None:
    async def seed(store: SessionStore) -> list[str]:
        made = []
        for age in (1, 3, 5, 7):
            session = await add_session(
                store, age_days=age, now=NOW, runs=0, metadata={"ticket": f"ASM-{age}"}
            )
            await store.append_event(Event(type="session_started", session_id=session.id))
            made.append(session.id)
        return made

    made = cli.store(seed)
    since = (NOW - timedelta(days=6)).isoformat()
    window = cli.json("sessions", "search", "--since", since, "--until", "2d")
    # Newest first by id (creation order), whatever the back-dated created_at says.
    assert [s["id"] for s in window["sessions"]] == [made[2], made[1]]
    assert [s["id"] for s in cli.json("sessions", "search", "asm-7")["sessions"]] == [made[3]]
    assert cli.json("sessions", "search", "--provider", "codex")["sessions"] == []

    first = cli.json("sessions", "search", "--limit", "3")
    assert first["next_cursor"] is not None
    second = cli.json("sessions", "search", "--limit", "3", "--cursor", first["next_cursor"])
    assert second["next_cursor"] is None
    ids = [s["id"] for s in first["sessions"] + second["sessions"]]
    assert len(ids) == 4
    assert set(ids) == set(made)
    bad = cli.run("sessions", "search", "--since", "yesterday-ish")
    assert bad.code == 2
    bad.assert_one_error_line("--since")


def test_artifacts_follow_export_import_and_prune(cli: CLI, tmp_path: Path) -> None:
    from agent_session_manager.artifacts import FilesystemArtifactStore

    source_dir, target_dir = tmp_path / "art-a", tmp_path / "art-b"

    async def seed(store: SessionStore) -> str:
        session = await add_session(store, age_days=100, now=NOW)
        artifacts = FilesystemArtifactStore(source_dir)
        await artifacts.put(f"sessions/{session.id}/patch.diff", b"+fix\n")
        await artifacts.put("sessions/ses_gone/old.log", b"orphan")
        return session.id

    session_id = cli.store(seed)
    bundle = tmp_path / "b.jsonl"
    exported = cli.run("export", session_id, "-o", str(bundle), "--artifacts", str(source_dir))
    assert exported.code == 0, exported.stderr
    other = f"sqlite:///{tmp_path}/other.db"
    without = cli.run("import", str(bundle), "--store", other)
    assert without.code == 1
    without.assert_one_error_line("artifact")
    imported = cli.run("import", str(bundle), "--store", other, "--artifacts", str(target_dir))
    assert imported.stdout.strip().endswith("1 artifacts"), imported.stderr
    assert (target_dir / "objects" / "sessions" / session_id / "patch.diff").read_bytes() == (
        b"+fix\n"
    )

    pruned = cli.run("prune", "--ttl-days", "30", "--artifacts", str(source_dir), "--json")
    assert pruned.code == 0, pruned.stderr
    report = json.loads(pruned.stdout)
    assert report["totals"]["artifacts"] == 2  # the session's one and the orphan
    assert report["orphaned_artifacts"] == ["sessions/ses_gone/old.log"]
    assert list((source_dir / "objects").rglob("*.*")) == []
