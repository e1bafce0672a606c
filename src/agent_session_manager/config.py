"""Layered configuration: defaults < config file < ``ASM_*`` environment < explicit arguments.

:func:`load_settings` merges the layers into one validated :class:`Settings`; :func:`explain`
says, for every key, which layer its value came from (``asm config show`` prints it). The config
file is TOML, found at ``--config``/``$ASM_CONFIG`` or else ``config.toml`` in the user config
folder; a missing default file is simply no layer. Knows no store, provider or CLI.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from agent_session_manager.core.errors import ValidationError
from agent_session_manager.core.options import DEFAULT_RUN_TIMEOUT, PermissionMode

__all__ = [
    "CONFIG_ENV_VAR",
    "ENV_PREFIX",
    "Settings",
    "Source",
    "default_config_file",
    "explain",
    "load_settings",
]

ENV_PREFIX = "ASM_"
CONFIG_ENV_VAR = "ASM_CONFIG"


class Settings(BaseModel):
    """Every setting, with its default. Each key ``k`` is also read from ``$ASM_<K>``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    store: str | None = Field(
        default=None, description="Store URL (default: a SQLite file in the user data folder)."
    )
    provider: str = Field(default="scripted", description="Provider for `asm run`.")
    model: str | None = Field(default=None, description="Model name passed to the provider.")
    permission_mode: PermissionMode = Field(
        default=PermissionMode.DEFAULT, description="Provider permission mode."
    )
    timeout: float | None = Field(
        default=DEFAULT_RUN_TIMEOUT, gt=0, description="Run timeout in seconds (none: unbounded)."
    )
    redaction: bool = Field(default=True, description="Redact secrets before they are stored.")
    format: str = Field(default="compact", description="Output format: compact, verbose, jsonl.")
    claude_path: str | None = Field(default=None, description="Path of the `claude` binary.")
    codex_path: str | None = Field(default=None, description="Path of the `codex` binary.")
    amp_path: str | None = Field(default=None, description="Path of the `amp` binary.")


@dataclass(frozen=True, slots=True)
class Source:
    """Where one effective value came from: ``default``, ``file``, ``env`` or ``argument``."""

    layer: str
    where: str  # the file path, the variable name, or "" for defaults and arguments


def default_config_file() -> Path:
    """``config.toml`` in the user config folder (``~/.config/agent-session-manager`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_config_dir("agent-session-manager")) / "config.toml"


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    **explicit: Any,
) -> Settings:
    """The effective settings. ``explicit`` values that are ``None`` count as not given."""
    return _resolve(config_file, environ, explicit)[0]


def explain(
    config_file: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    **explicit: Any,
) -> tuple[Settings, dict[str, Source]]:
    """The effective settings and, for each key, the layer that supplied its value."""
    return _resolve(config_file, environ, explicit)


def _resolve(
    config_file: str | os.PathLike[str] | None,
    environ: Mapping[str, str] | None,
    explicit: Mapping[str, Any],
) -> tuple[Settings, dict[str, Source]]:
    env = os.environ if environ is None else environ
    fields = Settings.model_fields
    unknown = sorted(set(explicit) - set(fields))
    if unknown:
        raise ValidationError(f"unknown setting(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    sources = {name: Source("default", "") for name in fields}

    path, required = _config_path(config_file, env)
    for key, value in _read_file(path, required).items():
        values[key] = value
        sources[key] = Source("file", str(path))
    for name in fields:
        variable = ENV_PREFIX + name.upper()
        if variable in env:
            values[name] = _from_env(env[variable])
            sources[name] = Source("env", variable)
    for name, value in explicit.items():
        if value is not None:
            values[name] = value
            sources[name] = Source("argument", "")
    try:
        settings = Settings.model_validate(values)
    except PydanticValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))} ({_describe(sources, e['loc'])}): {e['msg']}"
            for e in exc.errors()
        )
        raise ValidationError(f"invalid configuration: {problems}") from None
    return settings, sources


def _config_path(
    config_file: str | os.PathLike[str] | None, env: Mapping[str, str]
) -> tuple[Path, bool]:
    """The file to read and whether it must exist (it must when named explicitly)."""
    if config_file is not None:
        return Path(config_file).expanduser(), True
    if env.get(CONFIG_ENV_VAR):
        return Path(env[CONFIG_ENV_VAR]).expanduser(), True
    return default_config_file(), False


def _read_file(path: Path, required: bool) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise ValidationError(f"config file {path} does not exist") from None
        return {}
    except OSError as exc:
        raise ValidationError(f"cannot read config file {path}: {exc}") from None
    try:
        data = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        raise ValidationError(
            f"config file {path} has unknown key(s): {', '.join(unknown)} "
            f"(known: {', '.join(Settings.model_fields)})"
        )
    return data


def _from_env(value: str) -> Any:
    # An empty variable or "none" unsets an optional value; pydantic parses the rest.
    return None if value.strip().lower() in {"", "none", "null"} else value


def _describe(sources: Mapping[str, Source], loc: tuple[Any, ...]) -> str:
    source = sources.get(str(loc[0])) if loc else None
    if source is None:
        return "?"
    return f"{source.layer} {source.where}".strip()
