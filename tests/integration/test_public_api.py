"""The public surface in a fresh interpreter: what importing the package loads, where each
exported name lives, and the install hint for a missing extra."""

from __future__ import annotations

import subprocess
import sys

import agent_session_manager

HEAVY = ("sqlalchemy", "alembic", "asyncpg", "aiohttp", "acp", "boto3", "opentelemetry.sdk", "rich")


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


_WITHOUT_EXTRAS = """
import asyncio, sys
sys.modules["asyncpg"] = sys.modules["boto3"] = sys.modules["acp"] = None  # not installed
import agent_session_manager as asm

def hint(call):
    try:
        call()
    except ImportError as exc:
        # Also a ValidationError, what open_store and the S3 store raised before.
        return f"{isinstance(exc, asm.ValidationError)}: {exc.message}"
    return "no error"

print(hint(lambda: asm.PostgresSessionStore))
print(hint(lambda: asyncio.run(asm.open_store("postgresql://127.0.0.1/none"))))
print(hint(lambda: asyncio.run(asm.S3ArtifactStore("bucket").get("key"))))
print(hint(lambda: asm.ACPAdapter))  # acp is imported when a run starts, not before
"""


def test_a_missing_extra_is_an_import_error_that_names_the_extra_to_install() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_EXTRAS], capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines() == [
        "True: agent_session_manager.PostgresSessionStore needs asyncpg: "
        "pip install 'agentsessionmanager[postgres]'",
        "True: the PostgreSQL store needs asyncpg: pip install 'agentsessionmanager[postgres]'",
        "True: the S3 artifact store needs boto3: pip install 'agentsessionmanager[s3]'",
        "no error",
    ]
