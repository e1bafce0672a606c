"""The documentation stays true: examples import public names from the package root, and generated
tables match the code (tests/integration/docs runs the examples)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import agent_session_manager
from tests.support import event_table

ROOT = Path(__file__).resolve().parents[3]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_ANY_BLOCK = re.compile(r"^```\w*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_SUBMODULE_IMPORT = re.compile(
    r"^from (agent_session_manager\.[\w.]+) import (\([^)]*\)|[^\n]*)", re.MULTILINE
)


def submodule_imports_of_public_names(code: str) -> list[str]:
    """``from agent_session_manager.<sub> import X`` where X is exported from the package root:
    the docs show one import path per name, the root's. Read with a pattern rather than parsed,
    so that sketches in ``text`` blocks (top-level ``async with``) are checked too."""
    public = set(agent_session_manager.__all__)
    found = []
    for module, names in _SUBMODULE_IMPORT.findall(code):
        uncommented = re.sub(r"#.*", "", names)
        for item in uncommented.strip("()").split(","):
            name = item.split(" as ")[0].strip()
            if name in public:
                found.append(f"{module}.{name}")
    return found


def _blocks() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        text = path.read_text()
        for match in _ANY_BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 2
            found.append((f"{path.relative_to(ROOT)}:{line}", match.group(1)))
    return found


@pytest.mark.parametrize(("where", "code"), _blocks(), ids=[w for w, _ in _blocks()])
def test_documented_code_imports_public_names_from_the_package(where: str, code: str) -> None:
    assert submodule_imports_of_public_names(code) == [], (
        f"{where}: import these from agent_session_manager"
    )


def test_a_public_name_imported_from_a_submodule_is_found() -> None:
    code = (
        "from agent_session_manager import Event\n"
        "from agent_session_manager.runtime import SessionServer, ControlRecord as Record\n"
        "from agent_session_manager.testing import StoreConformance\n"
        "from agent_session_manager.core.events import TERMINAL_RUN_EVENTS\n"
        "from agent_session_manager.maintenance import (\n"
        "    iter_sessions,  # not exported at the root\n"
        "    usage_summary,\n"
        ")\n"
    )
    assert submodule_imports_of_public_names(code) == [
        "agent_session_manager.runtime.SessionServer",
        "agent_session_manager.runtime.ControlRecord",
        "agent_session_manager.maintenance.usage_summary",
    ]


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```bash", 1)[1].split("```", 1)[0]
    assert "make demo" in first_block
    assert "make test" in first_block


def test_event_table_matches_the_schemas() -> None:
    assert event_table.render() in (ROOT / "docs" / "events.md").read_text()
