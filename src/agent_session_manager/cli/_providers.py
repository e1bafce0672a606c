"""Which providers the CLI can drive, and building their adapters from command-line options.

Only the scripted provider exists in this version; the names of the agent CLIs that come later
are recognised so the error can say so. Provider modules are imported here lazily, when a
command actually needs an adapter; provider SDKs are never imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agent_session_manager.cli._runtime import UsageError

if TYPE_CHECKING:
    from agent_session_manager.providers.base import AdapterOptions, PermissionMode
    from agent_session_manager.providers.scripted import ScriptedAdapter

AVAILABLE_PROVIDERS = ("scripted",)
#: Adapters planned for a later release (named in the error so users know they are coming).
PLANNED_PROVIDERS = ("claude", "codex", "amp", "acp", "shell")


def check_provider(name: str) -> str:
    """The normalised provider name, or a usage error (exit code 2)."""
    wanted = name.strip().lower()
    if wanted in AVAILABLE_PROVIDERS:
        return wanted
    if wanted in PLANNED_PROVIDERS:
        raise UsageError(
            f"provider '{name}' is not available yet: only 'scripted' works in this version "
            f"(the {', '.join(PLANNED_PROVIDERS)} adapters land in a later release)"
        )
    raise UsageError(f"unknown provider '{name}': only 'scripted' is available in this version")


def check_permission_mode(value: str) -> PermissionMode:
    """``accept_edits`` / ``accept-edits`` → ``PermissionMode.ACCEPT_EDITS``, else a usage error."""
    from agent_session_manager.providers.base import PermissionMode

    try:
        return PermissionMode(value.strip().lower().replace("-", "_"))
    except ValueError:
        choices = ", ".join(mode.value for mode in PermissionMode)
        raise UsageError(f"invalid permission mode '{value}': choose one of {choices}") from None


def adapter_options(
    *,
    model: str | None,
    permission_mode: str,
    max_turns: int | None,
    system_prompt: str | None,
    cwd: Path | None,
) -> AdapterOptions:
    """``AdapterOptions`` from the ``asm run`` options (usage errors for bad values)."""
    from agent_session_manager.providers.base import AdapterOptions

    mode = check_permission_mode(permission_mode)
    try:
        return AdapterOptions(
            model=model or None,
            permission_mode=mode,
            max_turns=max_turns,
            system_prompt=system_prompt,
            cwd=str(cwd.resolve()) if cwd is not None else None,
        )
    except ValueError as exc:
        raise UsageError(f"invalid run options: {exc}") from None


def scripted_adapter(scenario_file: Path | None) -> ScriptedAdapter:
    """The scripted adapter playing ``scenario_file``, or the default reply to the prompt."""
    from agent_session_manager.core.errors import ValidationError
    from agent_session_manager.providers.scenario_file import (
        default_reply_scenario,
        load_scenario,
    )
    from agent_session_manager.providers.scripted import ScriptedAdapter

    if scenario_file is None:
        return ScriptedAdapter(lambda request: default_reply_scenario(request.prompt))
    try:
        scenario = load_scenario(scenario_file)
    except ValidationError as exc:
        raise UsageError(exc.message) from None
    return ScriptedAdapter(scenario)
