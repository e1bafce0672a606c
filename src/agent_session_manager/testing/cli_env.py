"""Environments that point the real agent CLIs at a :class:`FakeModelServer`, fully offline.

``claude_env`` and ``codex_env`` return the variables a ``claude`` / ``codex`` process needs so
that every request goes to the fake server on 127.0.0.1 and nothing else is contacted (telemetry,
auto-update, error reporting and Codex's plugin sync off; a private ``HOME``), as established in
the project's CLI harness notes. ``find_cli`` locates the pinned binaries that ``make tools``
installs under ``.tools/npm``. This module knows environment variables and config files; it knows
nothing of the adapters or the session manager.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "CLAUDE_CODE_VERSION",
    "CODEX_VERSION",
    "claude_env",
    "codex_env",
    "find_cli",
    "tools_bin_dir",
]

#: The CLI versions the test suite pins (``make tools`` installs exactly these).
CLAUDE_CODE_VERSION = "2.1.331"
CODEX_VERSION = "0.169.0"

#: Variables of the calling environment kept in a CLI's environment (the rest is dropped so a
#: developer's real API keys or base URLs never leak into an offline test).
_KEEP = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "TERM", "SYSTEMROOT")


def _base(home: Path, inherit: Mapping[str, str] | None) -> dict[str, str]:
    source = os.environ if inherit is None else inherit
    env = {k: source[k] for k in _KEEP if k in source}
    home.mkdir(parents=True, exist_ok=True)
    env["HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    env["XDG_CACHE_HOME"] = str(home / ".cache")
    env["XDG_DATA_HOME"] = str(home / ".local" / "share")
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


def claude_env(
    base_url: str,
    home: str | Path,
    *,
    api_key: str = "sk-ant-fake-key",
    max_retries: int = 0,
    inherit: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment for ``claude`` talking to ``base_url`` (the server's ``url``, no ``/v1``).

    ``IS_SANDBOX=1`` lets the bypass permission modes run as root (containers, CI);
    ``CLAUDE_CODE_MAX_RETRIES`` (default 0) keeps scripted 5xx errors from being retried.
    """
    env = _base(Path(home), inherit)
    env.update(
        {
            "ANTHROPIC_BASE_URL": base_url,
            "ANTHROPIC_API_KEY": api_key,
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "CLAUDE_CODE_MAX_RETRIES": str(max_retries),
            "IS_SANDBOX": "1",
        }
    )
    return env


def codex_env(
    openai_base_url: str,
    home: str | Path,
    *,
    model: str = "gpt-5.5",
    api_key: str = "sk-fake",
    inherit: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment for ``codex`` talking to ``openai_base_url`` (the server's ``.../v1``).

    Writes ``$HOME/.codex/config.toml`` with a ``fake`` model provider on the Responses API,
    retries, analytics, update checks and the plugin sync (which looks up github.com) off.
    """
    home = Path(home)
    env = _base(home, inherit)
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(
        f"""model = "{model}"
model_provider = "fake"
check_for_update_on_startup = false

[model_providers.fake]
name = "fake"
base_url = "{openai_base_url}"
env_key = "ASM_FAKE_OPENAI_KEY"
wire_api = "responses"
supports_websockets = false
request_max_retries = 0
stream_max_retries = 0

[analytics]
enabled = false

[features]
plugins = false
remote_plugin = false
""",
        encoding="utf-8",
    )
    env["CODEX_HOME"] = str(codex_home)
    env["ASM_FAKE_OPENAI_KEY"] = api_key
    return env


def tools_bin_dir(start: str | Path | None = None) -> Path | None:
    """``.tools/npm/node_modules/.bin`` of the nearest project above ``start`` (or the cwd)."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / ".tools" / "npm" / "node_modules" / ".bin"
        if candidate.is_dir():
            return candidate
    return None


def find_cli(
    name: str, *, env_var: str | None = None, start: str | Path | None = None
) -> str | None:
    """Path of the ``name`` CLI: ``$env_var``, else the project's ``.tools/npm``, else PATH."""
    if env_var and os.environ.get(env_var):
        return os.environ[env_var]
    folder = tools_bin_dir(start)
    if folder is not None and (folder / name).exists():
        return str(folder / name)
    return shutil.which(name)
