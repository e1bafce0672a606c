"""Which providers the CLI can drive, and building their adapters from command-line options.

``scripted``, ``claude`` (the Claude Code CLI), ``codex`` (the Codex CLI), ``amp`` (the Amp
CLI), ``acp`` (any Agent Client Protocol agent, given with ``--acp-command``) and ``shell`` (the
prompt run as a shell command) work. The agent CLIs are found through ``ASM_CLAUDE_PATH`` /
``ASM_CODEX_PATH`` / ``ASM_AMP_PATH`` or ``PATH`` and inherit the environment (so
``ANTHROPIC_BASE_URL``, ``CODEX_HOME``, ``AMP_URL`` and the like pass through). Provider modules
are imported here lazily, when a command actually needs an adapter; provider SDKs are never
imported here (the ACP adapter imports its package only when a run starts).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agent_session_manager.cli._runtime import UsageError

if TYPE_CHECKING:
    from agent_session_manager.core.options import PermissionMode
    from agent_session_manager.providers._prestart import PrestartedProcess
    from agent_session_manager.providers.protocol import AdapterOptions, ProviderAdapter
    from agent_session_manager.providers.scripted import ScriptedAdapter

AVAILABLE_PROVIDERS = ("scripted", "claude", "codex", "amp", "acp", "shell")
#: Adapters planned for a later release (named in the error so users know they are coming).
PLANNED_PROVIDERS: tuple[str, ...] = ()


def check_provider(name: str) -> str:
    """The normalised provider name, or a usage error (exit code 2)."""
    wanted = name.strip().lower()
    if wanted in AVAILABLE_PROVIDERS:
        return wanted
    available = ", ".join(AVAILABLE_PROVIDERS)
    if wanted in PLANNED_PROVIDERS:
        raise UsageError(
            f"provider '{name}' is not available yet: {available} work in this version "
            f"(the {', '.join(PLANNED_PROVIDERS)} adapters land in a later release)"
        )
    raise UsageError(f"unknown provider '{name}': choose one of {available}")


def build_adapter(
    provider: str,
    scenario_file: Path | None,
    acp_command: str | None = None,
    *,
    prestarted: PrestartedProcess | None = None,
) -> ProviderAdapter:
    """The adapter for a checked provider name (``--scenario`` only goes with ``scripted``,
    ``--acp-command`` only, and always, with ``acp``). ``prestarted``: the agent ``asm run``
    already started, for a CLI adapter to adopt if its run's command line matches."""
    if acp_command is not None and provider != "acp":
        raise UsageError(f"--acp-command only applies to --provider acp, not '{provider}'")
    if provider == "scripted":
        return scripted_adapter(scenario_file)
    if scenario_file is not None:
        raise UsageError(f"--scenario only applies to the scripted provider, not '{provider}'")
    if provider == "acp":
        return acp_adapter(acp_command)
    if provider == "amp":
        from agent_session_manager.providers.amp import AmpAdapter

        return AmpAdapter(prestarted=prestarted)
    if provider == "shell":
        from agent_session_manager.providers.shell import ShellAdapter

        return ShellAdapter()
    if provider == "claude":
        from agent_session_manager.providers.claude import ClaudeAdapter

        return ClaudeAdapter(prestarted=prestarted)
    if provider == "codex":
        from agent_session_manager.providers.codex import CodexAdapter

        return CodexAdapter(prestarted=prestarted)
    raise UsageError(f"unknown provider '{provider}'")


def acp_adapter(command: str | None) -> ProviderAdapter:
    """The ACP adapter for ``--acp-command`` (split like a shell would), or a usage error."""
    import shlex

    from agent_session_manager.providers.acp import ACPAdapter

    if command is None or not command.strip():
        raise UsageError(
            '--provider acp needs the agent command: --acp-command "CMD [ARGS...]" '
            "(e.g. claude-code-acp, codex-acp, gemini --experimental-acp)"
        )
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise UsageError(f"invalid --acp-command: {exc}") from None
    return ACPAdapter(argv)


def check_permission_mode(value: str) -> PermissionMode:
    """``accept_edits`` / ``accept-edits`` → ``PermissionMode.ACCEPT_EDITS``, else a usage error."""
    from agent_session_manager.core.options import PermissionMode

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
    from agent_session_manager.providers.protocol import AdapterOptions

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
