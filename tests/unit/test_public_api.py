"""The public surface: every exported name resolves, and every type in a public signature is
exported (tests/integration/test_public_api.py checks what importing the package loads)."""

from __future__ import annotations

import builtins
import inspect
import sys
import typing
from collections.abc import Iterator
from typing import Any

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


def test_every_exported_name_resolves() -> None:
    missing = [n for n in agent_session_manager.__all__ if not hasattr(agent_session_manager, n)]
    assert missing == []


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


#: Our types that appear in public signatures without being exported, each for a reason.
UNEXPORTED_ON_PURPOSE = {
    # ``prestarted=`` of the CLI adapters is the CLI's internal hand-off (see test_layers).
    "agent_session_manager.providers._prestart.PrestartedProcess",
    # ``running(run_id)`` of the ACP and shell adapters is a diagnostics hook for tests.
    "agent_session_manager.providers._process.CLIProcess",
    # ``Scenario.steps`` holds the script's own step values; Scenario's methods build them.
    "agent_session_manager.providers.scripted._Delay",
    "agent_session_manager.providers.scripted._Fail",
}


class _Lenient(dict[str, object]):
    """Names for ``get_type_hints``: the module's, else ``Any`` for a name imported only under
    ``TYPE_CHECKING`` (a third-party type such as asyncpg's ``Pool``)."""

    def __init__(self, module: str) -> None:
        super().__init__()
        self.module = vars(sys.modules[module])

    def __missing__(self, key: str) -> object:
        return self.module.get(key, getattr(builtins, key, Any))


def _hints(obj: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(obj)
    except NameError:
        return typing.get_type_hints(obj, localns=_Lenient(obj.__module__))


def _signature_hints(obj: Any, name: str) -> Iterator[tuple[str, Any]]:
    """(where, annotation) for a public function, or a public class's fields and the
    parameters and results of the methods and properties it defines."""
    if not inspect.isclass(obj):
        yield from ((f"{name}({k})", v) for k, v in _hints(obj).items())
        return
    yield from ((f"{name}.{k}", v) for k, v in _hints(obj).items() if not k.startswith("_"))
    for attr, member in vars(obj).items():
        if attr.startswith("_") and attr != "__init__":
            continue
        function = member.fget if isinstance(member, property) else member
        function = getattr(function, "__func__", function)  # classmethod, staticmethod
        if inspect.isfunction(function):
            hints = _hints(function).items()
            yield from ((f"{name}.{attr}({k})", v) for k, v in hints)


def _our_types(annotation: Any) -> Iterator[type]:
    if isinstance(annotation, type) and annotation.__module__.startswith("agent_session_manager"):
        yield annotation
    origin = typing.get_origin(annotation)
    if origin is not None:
        yield from _our_types(origin)
    for arg in typing.get_args(annotation):
        for item in arg if isinstance(arg, list) else [arg]:  # Callable[[A, B], R]
            yield from _our_types(item)


def test_every_type_in_a_public_signature_is_exported() -> None:
    unexported: dict[str, list[str]] = {}
    for name in agent_session_manager.__all__:
        obj = getattr(agent_session_manager, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        for where, annotation in _signature_hints(obj, name):
            for found in _our_types(annotation):
                qualified = f"{found.__module__}.{found.__qualname__}"
                exported = getattr(agent_session_manager, found.__name__, None) is found
                if not exported and qualified not in UNEXPORTED_ON_PURPOSE:
                    unexported.setdefault(qualified, []).append(where)
    assert unexported == {}, "export these from agent_session_manager (used in the signatures)"
