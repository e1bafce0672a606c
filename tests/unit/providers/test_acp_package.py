"""The ACP adapter without the ``acp`` extra: building it works (the package is imported only when
a run starts), and a run fails with the install command before any agent process starts."""

from __future__ import annotations

import sys

import pytest

from agent_session_manager.core.errors import ValidationError
from agent_session_manager.core.extras import MissingDependency
from agent_session_manager.providers.acp import ACPAdapter
from agent_session_manager.providers.protocol import RunRequest


@pytest.fixture
def without_acp(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if agent-client-protocol were not installed (its modules restored afterwards)."""
    for name in list(sys.modules):
        if name == "acp" or name.startswith("acp."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "acp", None)  # type: ignore[arg-type]


@pytest.mark.usefixtures("without_acp")
async def test_a_run_without_the_extra_names_the_install_command() -> None:
    # A command that cannot start: had the adapter spawned it first, the error would say so.
    adapter = ACPAdapter(["/nonexistent/agent-acp"])
    request = RunRequest(run_id="run_1", session_id="ses_1", messages=())
    with pytest.raises(MissingDependency) as caught:
        _ = [event async for event in adapter.stream(request)]
    error = caught.value
    assert str(error.message) == (
        "the ACP adapter needs acp: pip install 'agentsessionmanager[acp]'"
    )
    assert isinstance(error, ImportError)
    assert isinstance(error, ValidationError)  # nothing was run
    assert error.details == {"missing": "acp", "extra": "acp"}
    assert adapter.running("run_1") is None
