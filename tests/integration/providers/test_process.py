"""The shared CLI process module: JSON lines, bounded stderr, group kill and reaping (and the
CLI adapters' flag arguments)."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

from agent_session_manager import ProviderError
from agent_session_manager.providers import _process
from agent_session_manager.providers._cli_adapter import flag_args
from agent_session_manager.providers._process import CLINotFound, CLIProcess
from tests.support.process_groups import group_members, ours, wait_group_gone


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


async def test_json_lines_and_exit_code() -> None:
    code = "print('{\"a\": 1}'); print(); print('{\"b\": 2}')"
    async with await CLIProcess.spawn(_python(code)) as process:
        lines = [line async for line in process.json_lines()]
        assert lines == [{"a": 1}, {"b": 2}]
        assert await process.wait() == 0


@pytest.mark.parametrize(
    ("printed", "fragment"), [("not json", "malformed output line 1"), ("[1]", "not a JSON object")]
)
async def test_bad_lines_are_protocol_errors(printed: str, fragment: str) -> None:
    async with await CLIProcess.spawn(_python(f"print({printed!r})")) as process:
        with pytest.raises(ProviderError, match=fragment) as caught:
            _ = [line async for line in process.json_lines()]
    assert caught.value.code == "provider_protocol_error"
    assert caught.value.details["line"] == printed


async def test_stderr_tail_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_process, "STDERR_TAIL_BYTES", 1000)
    code = "import sys; sys.stderr.write('x' * 100000 + 'END'); sys.exit(4)"
    async with await CLIProcess.spawn(_python(code)) as process:
        _ = [line async for line in process.json_lines()]
        error = await process.exit_error()
    assert len(process.stderr_tail) <= 1000
    assert process.stderr_tail.endswith("END")
    assert "exited with code 4" in error.message


async def test_close_kills_the_whole_group_even_when_sigterm_is_ignored() -> None:
    # A shell that ignores SIGTERM and leaves a grandchild doing the same.
    script = "trap '' TERM; (trap '' TERM; sleep 60) & sleep 60"
    process = await CLIProcess.spawn(["bash", "-c", script])
    await asyncio.sleep(0.2)
    assert len(group_members(process.pgid)) >= 2
    began = time.monotonic()
    await process.close()
    assert time.monotonic() - began < 2.0
    assert ours(process.pgid) == []
    await asyncio.to_thread(wait_group_gone, process.pgid)
    assert process.returncode is not None


async def test_close_is_shared_by_concurrent_callers() -> None:
    process = await CLIProcess.spawn(["sleep", "60"])
    await asyncio.gather(process.close(), process.close(), process.close())
    assert ours(process.pgid) == []
    await asyncio.to_thread(wait_group_gone, process.pgid)


async def test_missing_binary() -> None:
    with pytest.raises(CLINotFound) as caught:
        await CLIProcess.spawn(["/no/such/cli"])
    assert caught.value.code == "provider_unavailable"
    assert caught.value.retryable is False


def test_flag_args() -> None:
    extra = {"--add-dir": ["/a", "/b"], "--verbose": True, "--off": False, "name": "x", "-x": 3}
    assert flag_args(extra) == ["--add-dir", "/a", "--add-dir", "/b", "--verbose", "-x", "3"]
