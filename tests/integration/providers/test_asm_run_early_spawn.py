"""``asm run --provider claude`` starts claude before importing the library ("early spawn"):
the run must be stored exactly as on the normal path, start before the heavy imports, and
leave no process behind when the command fails after the spawn or is interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agent_session_manager import (
    ClaudeAdapter,
    InMemorySessionStore,
    Message,
    RunRequest,
    SessionManager,
)
from agent_session_manager.providers._prestart import prestart
from agent_session_manager.testing.cli_env import claude_env
from agent_session_manager.testing.fake_model import FakeModelServer, delay, rule, text
from tests.support.process_groups import group_members, wait_group_gone

#: ``asm`` through ``main`` (early spawn applies) and through ``run_cli`` (the normal path).
EARLY = [sys.executable, "-m", "agent_session_manager.cli"]
NORMAL = [
    sys.executable,
    "-c",
    "import sys\n"
    "from agent_session_manager.cli.app import run_cli\n"
    "sys.exit(run_cli(sys.argv[1:]))",
]
#: ``main`` with spawning by the adapter forbidden: the run only succeeds by adopting.
ADOPT_ONLY = [
    sys.executable,
    "-c",
    "import sys\n"
    "from agent_session_manager.providers import _process\n"
    "async def refuse(*args, **kwargs):\n"
    "    raise AssertionError('the adapter spawned instead of adopting')\n"
    "_process.CLIProcess.spawn = refuse\n"
    "from agent_session_manager.cli import main\n"
    "main(sys.argv[1:])",
]
#: ``main`` reporting which heavy modules were loaded when the agent was started.
SPY = [
    sys.executable,
    "-c",
    "import sys\n"
    "from agent_session_manager.cli import _early\n"
    "real = _early.prestart\n"
    "def spy(*args, **kwargs):\n"
    "    heavy = ('pydantic', 'asyncio', 'typer', 'click', 'agent_session_manager.manager',\n"
    "             'agent_session_manager.store.factory', 'agent_session_manager.core.models')\n"
    "    sys.stderr.write('SPAWN ' + repr([m for m in heavy if m in sys.modules]) + '\\n')\n"
    "    return real(*args, **kwargs)\n"
    "_early.prestart = spy\n"
    "from agent_session_manager.cli import main\n"
    "main(sys.argv[1:])",
]


def _env(server: FakeModelServer, claude: str, tmp_path: Path) -> dict[str, str]:
    env = claude_env(server.url, tmp_path / "home")
    env.update(ASM_CLAUDE_PATH=claude, ASM_STORE=f"sqlite:///{tmp_path / 'asm.db'}")
    return env


def _run(prefix: list[str], env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _shape(events: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    return [(e["type"], sorted(e["data"])) for e in events]


def test_an_early_spawned_run_is_stored_like_a_normal_one(
    claude_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script({"rules": [rule(text("Hi from asm."), user_contains="greet")]})
    env = _env(fake_model_server, claude_binary, tmp_path)
    args = ("run", "-p", "claude", "--cwd", str(workspace), "-f", "jsonl", "greet me")

    early = _run(ADOPT_ONLY, env, *args)
    normal = _run(NORMAL, env, *args)

    assert early.returncode == 0, early.stderr
    assert normal.returncode == 0, normal.stderr
    early_events = [json.loads(line) for line in early.stdout.splitlines()]
    normal_events = [json.loads(line) for line in normal.stdout.splitlines()]
    assert _shape(early_events) == _shape(normal_events)

    def contents(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kinds = ("message_sent", "message_received", "token_usage_updated", "run_completed")
        ids = ("message_id", "provider_session_id")
        return [
            {k: v for k, v in e["data"].items() if k not in ids}
            for e in events
            if e["type"] in kinds
        ]

    assert contents(early_events) == contents(normal_events)
    assert early.stderr.splitlines()[0].startswith("completed")
    assert len(fake_model_server.model_requests("anthropic")) == 2


def test_the_agent_starts_before_the_heavy_imports(
    claude_binary: str, fake_model_server: FakeModelServer, tmp_path: Path
) -> None:
    env = _env(fake_model_server, claude_binary, tmp_path)
    done = _run(SPY, env, "run", "--provider", "claude", "Say hello")
    assert done.returncode == 0, done.stderr
    assert "SPAWN []" in done.stderr.splitlines()


def _fake_claude(tmp_path: Path) -> tuple[Path, Path]:
    """A ``claude`` that records its pid and a child's, then hangs (so only a kill ends it)."""
    pids = tmp_path / "pids"
    script = tmp_path / "fake-claude"
    script.write_text(f'#!/bin/sh\nsleep 60 &\necho "$$ $!" > {pids}\nexec sleep 60\n')
    script.chmod(0o755)
    return script, pids


def _recorded(pids: Path) -> list[int]:
    deadline = time.monotonic() + 5
    while not pids.exists() or not pids.read_text().strip():
        assert time.monotonic() < deadline, "the fake claude never started"
        time.sleep(0.01)
    return [int(pid) for pid in pids.read_text().split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_store_failure_after_the_spawn_kills_the_agent(tmp_path: Path) -> None:
    fake, pids = _fake_claude(tmp_path)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "ASM_CLAUDE_PATH": str(fake)}
    args = ("run", "-p", "claude", "--store", "nosuchscheme://x", "hello")

    early = _run(EARLY, env, *args)

    leader, child = _recorded(pids)
    assert not _alive(leader)  # killed and reaped by asm, not left for init
    wait_group_gone(leader)
    assert not _alive(child)
    pids.unlink()
    normal = _run(NORMAL, env, *args)
    assert not pids.exists()  # the normal path fails before starting claude
    assert (early.returncode, early.stderr) == (normal.returncode, normal.stderr)
    assert early.returncode == 2
    assert "invalid store" in early.stderr


def test_a_config_refusal_after_the_spawn_kills_the_agent(tmp_path: Path) -> None:
    fake, pids = _fake_claude(tmp_path)
    config = tmp_path / "bad.toml"
    config.write_text("this is not = = toml\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "ASM_CLAUDE_PATH": str(fake)}

    done = _run(EARLY, env, "--config", str(config), "run", "-p", "claude", "hello")

    assert done.returncode == 2, done.stderr
    leader, child = _recorded(pids)
    assert not _alive(leader)
    wait_group_gone(leader)
    assert not _alive(child)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry))
    return found


def test_ctrl_c_cancels_an_early_spawned_run_and_stops_its_group(
    claude_binary: str, fake_model_server: FakeModelServer, tmp_path: Path
) -> None:
    fake_model_server.set_script({"rules": [rule(text("Thinking"), delay(60), text("never"))]})
    env = _env(fake_model_server, claude_binary, tmp_path)
    asm = subprocess.Popen(
        [*EARLY, "run", "-p", "claude", "-f", "jsonl", "slow question"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert asm.stdout is not None
        seen = []
        for line in asm.stdout:
            seen.append(json.loads(line)["type"])
            if seen[-1] == "message_streamed":
                break
        (agent,) = _children(asm.pid)
        assert group_members(agent)
        asm.send_signal(signal.SIGINT)
        rest = [json.loads(line)["type"] for line in asm.stdout]
        code = asm.wait(timeout=20)
    finally:
        asm.kill()
    assert code == 130
    assert rest[-2:] == ["run_cancelled", "session_cancelled"]
    wait_group_gone(agent)


def _claude_lines_cli(tmp_path: Path, ending: str) -> str:
    """A fake ``claude`` printing an init and a text line, then ``ending`` (Python)."""
    lines = [
        {"type": "system", "subtype": "init", "session_id": "sess-1", "model": "m-1"},
        {"type": "assistant", "message": {"id": "m", "content": [{"type": "text", "text": "hi"}]}},
    ]
    path = tmp_path / "fake-claude.py"
    printed = "\n".join(json.dumps(line) for line in lines)
    path.write_text(
        f"#!{sys.executable}\nimport sys\nsys.stdout.write({printed!r} + '\\n')\n"
        f"sys.stdout.flush()\n{ending}\n"
    )
    path.chmod(0o755)
    return str(path)


async def test_an_adopted_process_reports_like_a_spawned_one(tmp_path: Path) -> None:

    binary = _claude_lines_cli(tmp_path, "sys.stderr.write('fatal: crashed\\n'); sys.exit(3)")
    argv = ClaudeAdapter(binary).command(_request("go"))
    prestarted = prestart(argv, cwd=None, env=dict(os.environ))
    assert prestarted is not None
    manager = SessionManager(InMemorySessionStore(), ClaudeAdapter(binary, prestarted=prestarted))

    result = await manager.run_once("go")

    assert prestarted.claimed
    assert result.error is not None
    assert result.error.code == "provider_protocol_error"
    assert "exited with code 3" in result.error.message
    assert "fatal: crashed" in result.error.message  # stderr drained through the adoption
    assert result.content == "hi"
    assert not _alive(prestarted.pid)


async def test_a_run_that_does_not_match_kills_the_prestarted_process(tmp_path: Path) -> None:

    fake, pids = _fake_claude(tmp_path)
    prestarted = prestart([str(fake)], cwd=None, env=dict(os.environ))
    assert prestarted is not None
    leader, child = _recorded(pids)
    binary = _claude_lines_cli(tmp_path, 'print(\'{"type": "result", "subtype": "success"}\')')
    manager = SessionManager(InMemorySessionStore(), ClaudeAdapter(binary, prestarted=prestarted))

    result = await manager.run_once("go")

    assert result.ok, result.error
    assert result.content == "hi"
    assert prestarted.claimed
    assert not _alive(leader)
    wait_group_gone(leader)
    assert not _alive(child)


def _request(prompt: str) -> RunRequest:
    return RunRequest(
        run_id="run_x", session_id="ses_x", messages=(Message(role="user", content=prompt),)
    )


def test_sigterm_before_the_run_starts_kills_the_agent_too(tmp_path: Path) -> None:
    fake, pids = _fake_claude(tmp_path)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "ASM_CLAUDE_PATH": str(fake),
        "ASM_STORE": f"sqlite:///{tmp_path / 'asm.db'}",
    }
    asm = subprocess.Popen([*EARLY, "run", "-p", "claude", "hello"], env=env)
    leader, child = _recorded(pids)  # asm is still importing: the run has not started
    asm.send_signal(signal.SIGTERM)
    assert asm.wait(timeout=20) == -signal.SIGTERM
    assert not _alive(leader)
    wait_group_gone(leader)
    assert not _alive(child)


def test_a_prestarted_process_is_set_up_like_a_spawned_one(tmp_path: Path) -> None:
    inherited_read, inherited_write = os.pipe()
    os.set_inheritable(inherited_write, True)  # as if asm's own parent had passed it down
    here = os.getcwd()
    try:
        prestarted = prestart(["sleep", "30"], cwd=str(tmp_path), env=dict(os.environ))
    finally:
        os.close(inherited_write)
    assert prestarted is not None
    try:
        pid = prestarted.pid
        assert os.getcwd() == here  # the parent stepped back out
        assert os.readlink(f"/proc/{pid}/cwd") == str(tmp_path.resolve())
        assert os.getsid(pid) == pid  # its own session and process group
        assert _settled_fds(pid) == [0, 1, 2]  # nothing inherited beyond the standard streams
        assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
        status = Path(f"/proc/{pid}/status").read_text()
        ignored = int(
            next(line for line in status.splitlines() if line.startswith("SigIgn:"))[7:], 16
        )
        assert not ignored & (1 << (signal.SIGPIPE - 1))  # Python ignores it; the child must not
    finally:
        prestarted.discard()
        os.close(inherited_read)
    assert prestarted.returncode == -signal.SIGKILL
    assert not _alive(pid)


def _settled_fds(pid: int, timeout: float = 10.0) -> list[int]:
    """The child's descriptors once its start-up is over: right after exec its dynamic loader
    holds a library open as fd 3 for a moment, while an inherited descriptor never goes away."""
    deadline = time.monotonic() + timeout
    while True:
        fds = sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))
        if fds == [0, 1, 2] or time.monotonic() > deadline:
            return fds
        time.sleep(0.01)


def test_a_missing_binary_is_not_prestarted(tmp_path: Path) -> None:
    assert prestart([str(tmp_path / "missing")], cwd=None, env=dict(os.environ)) is None
