"""What the session manager adds on top of a real agent CLI (issue 5 targets).

1. Wall time of ``asm run --provider claude`` against the fake model server, next to the bare
   ``claude -p --output-format stream-json --verbose`` on the same script: median of N
   alternating runs each, ratio target <= 1.15.
2. ``import agent_session_manager`` in a fresh interpreter (minus an empty one): target 150 ms.
3. Latency from a CLI's stdout line to its persisted event (SQLite store), p99 target 2 ms: a
   fake CLI prints one assistant line per millisecond carrying its CLOCK_MONOTONIC time, and the
   ``on_event`` callback (called after the append) takes the difference.

Needs the pinned ``claude`` (``make tools``) for part 1; parts 2 and 3 need nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._util import machine

ROOT = Path(__file__).resolve().parents[1]


def _claude() -> str | None:
    from agent_session_manager.testing.cli_env import find_cli

    return find_cli("claude", env_var="ASM_CLAUDE_PATH", start=ROOT)


def _timed(argv: list[str], env: dict[str, str], cwd: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return elapsed


def overhead(runs: int) -> tuple[float, float, float]:
    """(median bare s, median asm s, ratio)."""
    from agent_session_manager.testing.cli_env import claude_env
    from agent_session_manager.testing.fake_model import FakeModelServer

    claude = _claude()
    if claude is None:
        raise SystemExit("claude not found: run `make tools`")
    asm = [sys.executable, "-m", "agent_session_manager.cli"]
    with FakeModelServer() as server, tempfile.TemporaryDirectory(prefix="asm-bench-") as tmp:
        workspace = Path(tmp) / "ws"
        workspace.mkdir()
        subprocess.run(["git", "init", "-q", str(workspace)], check=True)
        env = claude_env(server.url, Path(tmp) / "home")
        env["ASM_CLAUDE_PATH"] = claude
        env["ASM_STORE"] = f"sqlite:///{tmp}/asm.db"
        bare_argv = [claude, "-p", "--output-format", "stream-json", "--verbose", "Say hello"]
        asm_argv = [*asm, "run", "--provider", "claude", "Say hello"]
        _timed(bare_argv, env, str(workspace))  # warm-up (page cache, first-run files)
        _timed(asm_argv, env, str(workspace))
        bare, wrapped = [], []
        for _ in range(runs):
            bare.append(_timed(bare_argv, env, str(workspace)))
            wrapped.append(_timed(asm_argv, env, str(workspace)))
    bare_median, asm_median = statistics.median(bare), statistics.median(wrapped)
    return bare_median, asm_median, asm_median / bare_median


async def _in_process(runs: int, claude: str) -> tuple[float, float]:
    from agent_session_manager import AdapterOptions, SessionManager
    from agent_session_manager.providers.claude import ClaudeAdapter
    from agent_session_manager.store.factory import open_store
    from agent_session_manager.testing.cli_env import claude_env
    from agent_session_manager.testing.fake_model import FakeModelServer

    with FakeModelServer() as server, tempfile.TemporaryDirectory(prefix="asm-bench-") as tmp:
        env = claude_env(server.url, Path(tmp) / "home")
        bare_argv = [claude, "-p", "--output-format", "stream-json", "--verbose", "Say hello"]
        options = AdapterOptions(cwd=tmp, env=env)
        async with await open_store(f"sqlite:///{tmp}/inproc.db") as store:
            manager = SessionManager(store, ClaudeAdapter(claude))
            bare, wrapped = [], []
            for index in range(runs + 1):
                started = time.perf_counter()
                process = await asyncio.create_subprocess_exec(
                    *bare_argv, env=env, cwd=tmp, stdout=subprocess.DEVNULL
                )
                await process.wait()
                middle = time.perf_counter()
                result = await manager.run_once("Say hello", options=options)
                ended = time.perf_counter()
                assert result.ok, result.error
                if index:  # the first pair warms up
                    bare.append(middle - started)
                    wrapped.append(ended - middle)
    return statistics.median(bare), statistics.median(wrapped)


def in_process(runs: int) -> tuple[float, float, float]:
    """(median bare s, median SessionManager + ClaudeAdapter s, ratio), in one interpreter."""
    claude = _claude()
    if claude is None:
        raise SystemExit("claude not found: run `make tools`")
    bare, wrapped = asyncio.run(_in_process(runs, claude))
    return bare, wrapped, wrapped / bare


def import_time(runs: int = 7) -> float:
    """Median ms to import the package in a fresh interpreter, minus an empty interpreter."""

    def run(code: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - started

    base = statistics.median(run("pass") for _ in range(runs))
    full = statistics.median(run("import agent_session_manager") for _ in range(runs))
    return (full - base) * 1000


_FAKE_CLI = """
import json, sys, time
init = {"type": "system", "subtype": "init", "session_id": "s", "model": "m"}
print(json.dumps(init), flush=True)
for i in range(COUNT):
    time.sleep(0.001)
    line = {"type": "assistant", "message": {"id": f"m{i}", "content": [
        {"type": "text", "text": repr(time.monotonic())}]}}
    print(json.dumps(line), flush=True)
print(json.dumps({"type": "result", "subtype": "success", "is_error": False, "result": "",
                  "usage": {"input_tokens": 1, "output_tokens": 1}}), flush=True)
"""


async def _line_latency(count: int, tmp: str) -> list[float]:
    from agent_session_manager import Event, SessionManager
    from agent_session_manager.providers.claude import ClaudeAdapter
    from agent_session_manager.store.factory import open_store

    script = Path(tmp) / "fake-claude"
    script.write_text(f"#!{sys.executable}\n" + _FAKE_CLI.replace("COUNT", str(count)))
    script.chmod(0o755)
    latencies: list[float] = []

    async def on_event(event: Event) -> None:
        if event.type == "message_received":
            latencies.append(time.monotonic() - float(event.data["content"]))

    async with await open_store(f"sqlite:///{tmp}/latency.db") as store:
        manager = SessionManager(store, ClaudeAdapter(str(script)))
        result = await manager.run_once("go", on_event=on_event)
        assert result.ok, result.error
    return latencies


def line_latency(count: int) -> tuple[float, float]:
    """(p50 ms, p99 ms) from a CLI stdout line to its persisted event."""
    with tempfile.TemporaryDirectory(prefix="asm-bench-") as tmp:
        latencies = sorted(asyncio.run(_line_latency(count, tmp)))
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return p50 * 1000, p99 * 1000


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="one JSON object instead of text")
    args = parser.parse_args(argv)
    figures: dict[str, object] = {"machine": machine(), "load": os.getloadavg()[0]}
    bare, wrapped, ratio = overhead(args.runs)
    figures.update(bare_s=round(bare, 3), asm_s=round(wrapped, 3), ratio=round(ratio, 3))
    in_bare, in_wrapped, in_ratio = in_process(args.runs)
    figures.update(
        inproc_bare_s=round(in_bare, 3),
        inproc_s=round(in_wrapped, 3),
        inproc_ratio=round(in_ratio, 3),
    )
    figures["import_ms"] = round(import_time(), 1)
    p50, p99 = line_latency(args.lines)
    figures.update(line_p50_ms=round(p50, 3), line_p99_ms=round(p99, 3))
    if args.json:
        sys.stdout.write(json.dumps(figures) + "\n")
        return
    sys.stdout.write(
        f"adapter overhead ({figures['machine']}, load {figures['load']:.2f})\n"
        f"  bare claude -p stream-json   median of {args.runs}: {bare:.3f} s\n"
        f"  asm run --provider claude    median of {args.runs}: {wrapped:.3f} s\n"
        f"  ratio {ratio:.3f} (target <= 1.15)\n"
        f"  in one interpreter: bare {in_bare:.3f} s, SessionManager + ClaudeAdapter (SQLite) "
        f"{in_wrapped:.3f} s, ratio {in_ratio:.3f}\n"
        f"  import agent_session_manager: {figures['import_ms']} ms (target <= 150)\n"
        f"  CLI line -> persisted event (SQLite, {args.lines} lines): p50 {p50:.3f} ms, "
        f"p99 {p99:.3f} ms (target <= 2)\n"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
