"""The public surface: every exported name resolves, and importing the package stays light."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import agent_session_manager
from agent_session_manager import (
    USE_DEFAULT_TIMEOUT,
    InMemorySessionStore,
    RunStatus,
    Scenario,
    ScriptedAdapter,
    SessionManager,
    SessionServer,
    stream_session,
)

HEAVY = ("sqlalchemy", "alembic", "asyncpg", "aiohttp", "acp", "boto3", "opentelemetry.sdk", "rich")


def test_every_exported_name_resolves() -> None:
    missing = [n for n in agent_session_manager.__all__ if not hasattr(agent_session_manager, n)]
    assert missing == []


def test_import_loads_no_backend_provider_sdk_or_terminal_library() -> None:
    code = (
        "import sys, agent_session_manager\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


def test_every_exported_name_is_the_object_of_its_home_module() -> None:
    code = (
        "import importlib, agent_session_manager as asm\n"
        "from agent_session_manager import *  # noqa: F403\n"
        "wrong = [n for n in asm.__all__ if n != '__version__' and globals()[n] is not\n"
        "         getattr(importlib.import_module(asm._LAZY[n]), n)]\n"
        "print(wrong)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    assert set(agent_session_manager.__all__) == {*agent_session_manager._LAZY, "__version__"}


def test_import_alone_loads_no_pydantic_asyncio_or_typer() -> None:
    code = (
        "import sys, agent_session_manager\n"
        "print(sorted(m for m in ('pydantic', 'asyncio', 'typer', 'click') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


def test_dir_lists_the_public_names() -> None:
    assert set(agent_session_manager.__all__) <= set(dir(agent_session_manager))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = agent_session_manager.no_such_name  # type: ignore[attr-defined]


def test_streaming_helpers_take_the_stream_sessions_parameters() -> None:
    """``stream_session`` and ``open_stream`` repeat ``StreamSession``'s parameters (typed, no
    ``**kwargs``), so a parameter added to one and not the others fails here."""
    expected = list(inspect.signature(agent_session_manager.StreamSession).parameters.values())
    for helper in (agent_session_manager.stream_session, agent_session_manager.open_stream):
        assert list(inspect.signature(helper).parameters.values()) == expected, helper.__name__


async def _timeout_of_a_slow_run(**timeout: float | None) -> RunStatus:
    manager = SessionManager(
        InMemorySessionStore(),
        ScriptedAdapter(Scenario().delay(0.5).text("late")),
        default_timeout=0.05,
    )
    async with await SessionServer.open(manager, **timeout) as server:
        return (await server.run("hi")).status


async def test_use_default_timeout_means_the_managers_default_and_none_means_no_limit() -> None:
    assert repr(USE_DEFAULT_TIMEOUT) == "USE_DEFAULT_TIMEOUT"
    assert await _timeout_of_a_slow_run() is RunStatus.TIMED_OUT
    assert await _timeout_of_a_slow_run(timeout=None) is RunStatus.COMPLETED
    async with stream_session(
        ScriptedAdapter(Scenario().delay(0.5).text("late")), "hi", timeout=0.05
    ) as events:
        _ = [event async for event in events]
    assert events.result is not None
    assert events.result.status is RunStatus.TIMED_OUT
