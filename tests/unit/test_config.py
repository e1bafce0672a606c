"""Configuration layers: defaults < config file < ASM_* environment < explicit arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_session_manager import PermissionMode, Settings, ValidationError, load_settings
from agent_session_manager.config import explain


@pytest.fixture
def no_default_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "empty-config-home"))


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "asm.toml"
    path.write_text(text)
    return path


@pytest.mark.usefixtures("no_default_file")
def test_defaults_when_nothing_is_set() -> None:
    settings, sources = explain(environ={})
    assert settings == Settings()
    assert settings.timeout == 1800.0
    assert {s.layer for s in sources.values()} == {"default"}


def test_config_file_overrides_defaults(tmp_path: Path) -> None:
    path = _file(tmp_path, 'timeout = 60\npermission_mode = "plan"\n')
    settings, sources = explain(path, environ={})
    assert settings.timeout == 60
    assert settings.permission_mode is PermissionMode.PLAN
    assert sources["timeout"].layer == "file"
    assert sources["timeout"].where == str(path)
    assert sources["provider"].layer == "default"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = _file(tmp_path, "timeout = 60\nredaction = true\n")
    settings, sources = explain(path, environ={"ASM_TIMEOUT": "5", "ASM_REDACTION": "false"})
    assert settings.timeout == 5
    assert settings.redaction is False
    assert (sources["timeout"].layer, sources["timeout"].where) == ("env", "ASM_TIMEOUT")


def test_explicit_arguments_override_everything(tmp_path: Path) -> None:
    path = _file(tmp_path, 'model = "file-model"\n')
    settings, sources = explain(
        path, environ={"ASM_MODEL": "env-model"}, model="arg-model", provider=None
    )
    assert settings.model == "arg-model"
    assert sources["model"].layer == "argument"
    assert sources["provider"].layer == "default"  # None means "not given"


def test_config_file_from_the_environment_and_the_default_location(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    named = _file(tmp_path, 'provider = "scripted"\nmodel = "named"\n')
    assert load_settings(environ={"ASM_CONFIG": str(named)}).model == "named"
    home = tmp_path / "config-home"
    (home / "agent-session-manager").mkdir(parents=True)
    (home / "agent-session-manager" / "config.toml").write_text('model = "default-file"\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    assert load_settings(environ={}).model == "default-file"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("bogus = 1\n", "unknown key(s): bogus"),
        ("timeout = \n", "not valid TOML"),
        ('timeout = "soon"\n', "timeout (file"),
        ('permission_mode = "yolo"\n', "permission_mode"),
    ],
)
def test_bad_files_raise_clear_errors(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        load_settings(_file(tmp_path, text), environ={})
    assert fragment in info.value.message


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="ASM_TIMEOUT"):
        load_settings(_file(tmp_path, ""), environ={"ASM_TIMEOUT": "-1"})


def test_missing_named_file_and_unknown_argument(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})
    with pytest.raises(ValidationError, match="unknown setting"):
        load_settings(_file(tmp_path, ""), environ={}, colour="red")


def test_empty_variable_unsets_an_optional_value(tmp_path: Path) -> None:
    path = _file(tmp_path, 'model = "x"\ntimeout = 10\n')
    settings = load_settings(path, environ={"ASM_MODEL": "", "ASM_TIMEOUT": "none"})
    assert settings.model is None
    assert settings.timeout is None
