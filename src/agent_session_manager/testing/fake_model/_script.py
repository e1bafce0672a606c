"""The fake model's scripts: rules that match a model request and the reply actions they play.

A :class:`Script` holds rules tried in order (a ``match`` on what the request looks like, a
``reply`` of actions, optional ``times`` and ``usage``), a default reply and stub answers for side
routes; the helpers (:func:`rule`, :func:`text`, :func:`shell`, …) build them in Python. A request
is seen through a :class:`View`, the part of a model request the matcher and the actions need,
which each wire format builds from its own body. This module knows scripts and views; it knows no
HTTP, no wire format and nothing of the session manager.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The reply when no rule matches and the script has no ``default``.
DEFAULT_REPLY: tuple[dict[str, Any], ...] = ({"text": "Hello from the fake model!"},)

_MATCH_KEYS = frozenset(
    {
        "api",
        "user_contains",
        "last_contains",
        "after_tool_result",
        "has_tools",
        "model_contains",
        "system_contains",
    }
)
_ACTION_KEYS = ("text", "thinking", "shell", "tool", "error", "delay")
_SHELL_TOOL_NAMES = ("Bash", "bash", "exec_command", "shell", "local_shell", "container.exec")


class ScriptError(ValueError):
    """A script that cannot be played (names the bad rule or action)."""


def text(content: str) -> dict[str, Any]:
    """Reply with assistant text (``{tool_output}`` / ``{user_text}`` are substituted)."""
    return {"text": content}


def thinking(content: str) -> dict[str, Any]:
    """Reply with a thinking (reasoning) block."""
    return {"thinking": content}


def shell(command: str) -> dict[str, Any]:
    """Call the request's own shell tool (``Bash``, ``exec_command``, ...) with ``command``."""
    return {"shell": command}


def tool(name: str, tool_input: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Call any tool by name with the given input."""
    return {"tool": name, "input": dict(tool_input or {})}


def error(status: int, message: str = "fake-model: scripted error") -> dict[str, Any]:
    """Answer with an HTTP error (400 invalid request, 429 rate limit, 529 overloaded, ...)."""
    return {"error": status, "message": message}


def delay(seconds: float) -> dict[str, Any]:
    """Pause before the next action (mid-stream when a reply has already begun)."""
    return {"delay": seconds}


def rule(
    *reply: Mapping[str, Any],
    times: int | None = None,
    usage: Mapping[str, int] | None = None,
    **match: Any,
) -> dict[str, Any]:
    """One script rule: ``rule(text("hi"), user_contains="hello", times=1)``."""
    out: dict[str, Any] = {"match": match, "reply": [dict(a) for a in reply]}
    if times is not None:
        out["times"] = times
    if usage is not None:
        out["usage"] = dict(usage)
    return out


@dataclass
class Rule:
    match: dict[str, Any]
    reply: list[dict[str, Any]]
    times: int | None
    usage: dict[str, int] | None
    fired: int = 0


@dataclass
class Script:
    """Rules tried in order, the default reply, and stub answers for other routes."""

    rules: list[dict[str, Any]] = field(default_factory=list)
    default: list[dict[str, Any]] = field(default_factory=lambda: [dict(a) for a in DEFAULT_REPLY])
    #: ``{"METHOD /path": json_body}`` canned answers for routes the server does not serve.
    stubs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Script:
        if not isinstance(raw, Mapping):
            raise ScriptError("a script must be a JSON object with 'rules' and/or 'default'")
        unknown = set(raw) - {"rules", "default", "stubs"}
        if unknown:
            raise ScriptError(f"unknown script keys: {sorted(unknown)}")
        rules = raw.get("rules", [])
        if not isinstance(rules, list):
            raise ScriptError("'rules' must be a list")
        script = cls(
            rules=[dict(r) for r in rules],
            default=list(raw.get("default", [dict(a) for a in DEFAULT_REPLY])),
            stubs=dict(raw.get("stubs", {})),
        )
        compile_script(script)  # validate now, with the rule's position in the error
        return script

    @classmethod
    def load(cls, path: str | Path) -> Script:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ScriptError(f"cannot read script {path}: {exc}") from exc
        return cls.from_dict(raw)


def compile_script(script: Script) -> tuple[list[Rule], list[dict[str, Any]]]:
    """The script's rules ready to fire, and its default reply; raises :class:`ScriptError`
    naming the first bad rule or action."""
    compiled = []
    for index, raw in enumerate(script.rules):
        where = f"rule {index + 1}"
        if not isinstance(raw, Mapping):
            raise ScriptError(f"{where}: must be an object")
        match = dict(raw.get("match") or {})
        bad = set(match) - _MATCH_KEYS
        if bad:
            raise ScriptError(f"{where}: unknown match keys {sorted(bad)}")
        times = raw.get("times")
        if times is not None and (not isinstance(times, int) or times < 1):
            raise ScriptError(f"{where}: 'times' must be a positive integer")
        reply = _check_reply(raw.get("reply"), where)
        usage = raw.get("usage")
        if usage is not None and not isinstance(usage, Mapping):
            raise ScriptError(f"{where}: 'usage' must be an object")
        compiled.append(Rule(match, reply, times, dict(usage) if usage else None))
    return compiled, _check_reply(script.default, "default")


def _check_reply(reply: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(reply, list) or not reply:
        raise ScriptError(f"{where}: 'reply' must be a non-empty list of actions")
    for position, action in enumerate(reply):
        if not isinstance(action, Mapping) or not any(k in action for k in _ACTION_KEYS):
            raise ScriptError(
                f"{where}, action {position + 1}: expected one of {', '.join(_ACTION_KEYS)}"
            )
        if "error" in action and not isinstance(action["error"], int):
            raise ScriptError(f"{where}, action {position + 1}: 'error' is an HTTP status")
    return [dict(a) for a in reply]


@dataclass
class View:
    """What the matcher needs from a model request, for either API."""

    api: str
    model: str
    user_text: str
    last_text: str
    after_tool_result: bool
    tool_output: str
    tools: list[dict[str, Any]]
    system: str


def block_text(block: Any) -> str:
    """The text of a content block, a list of blocks or a string (tool outputs included)."""
    if isinstance(block, str):
        return block
    if isinstance(block, Mapping):
        for key in ("text", "output", "content"):
            value = block.get(key)
            if isinstance(value, str):
                return value
            if isinstance(value, list):
                return "\n".join(block_text(b) for b in value)
    if isinstance(block, list):
        return "\n".join(block_text(b) for b in block)
    return ""


def matches(match: Mapping[str, Any], view: View) -> bool:
    """Whether every key of a rule's ``match`` holds for the request."""
    checks: dict[str, Callable[[Any], bool]] = {
        "api": lambda v: view.api == v,
        "user_contains": lambda v: str(v) in view.user_text,
        "last_contains": lambda v: str(v) in view.last_text,
        "after_tool_result": lambda v: view.after_tool_result == bool(v),
        "has_tools": lambda v: bool(view.tools) == bool(v),
        "model_contains": lambda v: str(v) in view.model,
        "system_contains": lambda v: str(v) in view.system,
    }
    return all(checks[key](value) for key, value in match.items())


def tool_call(view: View, action: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The tool a ``shell`` or ``tool`` action calls, and its input."""
    if "shell" in action:
        return _shell_input(view, str(action["shell"]))
    return str(action["tool"]), dict(action.get("input") or {})


def _shell_input(view: View, command: str) -> tuple[str, dict[str, Any]]:
    """The request's own shell tool and an input built from its schema."""
    by_name = {str(t.get("name") or t.get("type")): t for t in view.tools}
    for name in _SHELL_TOOL_NAMES:
        spec = by_name.get(name)
        if spec is None:
            continue
        schema = spec.get("input_schema") or spec.get("parameters") or {}
        props = schema.get("properties") or {}
        if "cmd" in props:
            return name, {"cmd": command}
        if props.get("command", {}).get("type") == "array":
            return name, {"command": ["bash", "-lc", command]}
        return name, {"command": command}
    raise ScriptError(
        f"the request has no shell tool (tools: {sorted(by_name)}); use a 'tool' action"
    )


def estimate_tokens(value: Any) -> int:
    """A token count for usage a script does not give (about four characters a token)."""
    return max(1, len(json.dumps(value, default=str)) // 4)


def fill(template: str, view: View) -> str:
    """A ``text`` action with ``{tool_output}`` and ``{user_text}`` substituted."""
    return template.replace("{tool_output}", view.tool_output).replace(
        "{user_text}", view.user_text
    )
