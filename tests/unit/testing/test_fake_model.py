"""The fake model server's script checks, without starting a server."""

from __future__ import annotations

from typing import Any

import pytest

from agent_session_manager.testing.fake_model import FakeModelServer, Script, ScriptError, text


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"rules": [{"match": {"colour": "red"}, "reply": [text("x")]}]}, "unknown match keys"),
        ({"rules": [{"reply": []}]}, "non-empty list"),
        ({"rules": [{"reply": [{"say": "x"}]}]}, "expected one of"),
        ({"rules": [{"reply": [text("x")], "times": 0}]}, "positive integer"),
        ({"rulez": []}, "unknown script keys"),
    ],
)
def test_bad_scripts_are_refused(raw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ScriptError, match=fragment):
        Script.from_dict(raw)


def test_only_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FakeModelServer(host="0.0.0.0")
