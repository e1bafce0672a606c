"""The providers package: the port's names resolve from it to the objects of
``providers.protocol``, without importing anything beyond the standard library until asked
(``asm run``'s early spawn imports ``providers._prestart`` before the library)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import agent_session_manager
import agent_session_manager.providers as providers
from agent_session_manager.providers import protocol


@pytest.mark.parametrize("name", providers.__all__)
def test_port_names_are_the_protocol_modules_objects(name: str) -> None:
    assert getattr(providers, name) is getattr(protocol, name)
    assert getattr(agent_session_manager, name) is getattr(protocol, name)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = providers.no_such_name  # type: ignore[attr-defined]


def test_importing_the_package_loads_only_the_standard_library() -> None:
    code = (
        "import sys\n"
        "import agent_session_manager.providers._prestart\n"
        "print(sorted(m for m in ('typing', 'pydantic', 'asyncio',\n"
        "    'agent_session_manager.providers.protocol') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
