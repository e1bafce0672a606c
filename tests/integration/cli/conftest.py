"""The ``cli`` fixture: the real ``asm`` in a subprocess against the test's own SQLite store and
data folder (see tests/support/asm_cli.py), so the tests never touch the real user data."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.asm_cli import CLI, make_cli


@pytest.fixture
def cli(tmp_path: Path) -> CLI:
    return make_cli(tmp_path)
