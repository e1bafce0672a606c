"""Scenario files: scripted-provider runs written as JSON, and the default scripted reply.

A file looks like ``{"model": "...", "stop_reason": "...", "steps": [...]}``; each step is an
object with one of the keys ``text`` (with optional ``chunks``), ``tool_call``, ``usage``,
``end_turn``, ``delay``, ``fail`` or ``event``, turned into the matching
:class:`~agent_session_manager.providers.scripted.Scenario` builder call. A malformed file raises
:class:`~agent_session_manager.core.errors.ValidationError` naming the file and the bad step.
This module reads files and JSON; it knows nothing about stores, the manager or the CLI.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import orjson

from agent_session_manager.core.errors import ValidationError
from agent_session_manager.providers.scripted import Scenario

__all__ = ["default_reply_scenario", "load_scenario", "parse_scenario"]

_TOP_LEVEL_KEYS = frozenset({"model", "stop_reason", "steps", "description"})


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read a JSON scenario file; raise ``ValidationError`` if it is missing or malformed."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise ValidationError(
            f"scenario file {name} does not exist", details={"path": name}
        ) from None
    except OSError as exc:
        raise ValidationError(
            f"cannot read scenario file {name}: {exc.strerror or exc}", details={"path": name}
        ) from exc
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(
            f"scenario file {name} is not valid JSON: {exc}", details={"path": name}
        ) from exc
    return parse_scenario(data, source=f"scenario file {name}")


def parse_scenario(data: Any, *, source: str = "scenario") -> Scenario:
    """Build a :class:`Scenario` from the decoded JSON of a scenario file.

    ``source`` names the input in error messages (``"scenario file demo.json: step 3 …"``).
    """
    if not isinstance(data, dict):
        raise _invalid(source, f"must be a JSON object, got {_json_type(data)}")
    unknown = sorted(set(data) - _TOP_LEVEL_KEYS)
    if unknown:
        raise _invalid(
            source,
            f"unknown key {unknown[0]!r} (expected: {', '.join(sorted(_TOP_LEVEL_KEYS))})",
        )
    scenario = Scenario()
    model = data.get("model")
    if model is not None:
        scenario = scenario.with_model(_string(model, source, "'model'"))
    stop_reason = data.get("stop_reason")
    if stop_reason is not None:
        scenario = scenario.with_stop_reason(_string(stop_reason, source, "'stop_reason'"))
    if "steps" not in data:
        raise _invalid(source, "missing the 'steps' list")
    steps = data["steps"]
    if not isinstance(steps, list):
        raise _invalid(source, f"'steps' must be a list, got {_json_type(steps)}")
    for index, step in enumerate(steps, start=1):
        scenario = _apply_step(scenario, step, f"{source}: step {index}")
    return scenario


def default_reply_scenario(prompt: str) -> Scenario:
    """What ``asm run --provider scripted`` plays without ``--scenario``: a short streamed reply
    quoting the prompt, with token usage derived from the text lengths. Deterministic."""
    quoted = " ".join(prompt.split())
    if len(quoted) > 80:
        quoted = quoted[:77] + "..."
    reply = (
        f'You said: "{quoted}". This is the scripted provider: it answers offline from a fixed '
        "script, so this run is deterministic. Pass --scenario FILE to script tool calls, "
        "failures and delays."
    )
    return (
        Scenario()
        .text(reply, chunks=6)
        .usage(input_tokens=12 + len(prompt) // 4, output_tokens=max(1, len(reply) // 4))
    )


# -- steps ------------------------------------------------------------------------------------
def _apply_step(scenario: Scenario, step: Any, where: str) -> Scenario:
    if not isinstance(step, dict) or not step:
        raise _invalid(where, f"must be an object with one step key, got {_json_type(step)}")
    kinds = [key for key in step if key in _STEPS]
    if len(kinds) != 1:
        found = ", ".join(repr(k) for k in step) or "nothing"
        raise _invalid(where, f"needs exactly one of {', '.join(_STEPS)}; found {found}")
    kind = kinds[0]
    allowed = {kind, "chunks"} if kind == "text" else {kind}
    extra = sorted(set(step) - allowed)
    if extra:
        raise _invalid(f"{where} ({kind})", f"unexpected key {extra[0]!r}")
    return _STEPS[kind](scenario, step, f"{where} ({kind})")


def _text_step(scenario: Scenario, step: dict[str, Any], where: str) -> Scenario:
    text = _string(step["text"], where, "'text'", allow_empty=True)
    chunks = _integer(step.get("chunks", 1), where, "'chunks'", minimum=1)
    return scenario.text(text, chunks=chunks)


def _tool_call_step(scenario: Scenario, step: dict[str, Any], where: str) -> Scenario:
    call = _object(step["tool_call"], where, "'tool_call'")
    _only(call, {"name", "input", "output", "error", "id"}, where)
    if "name" not in call:
        raise _invalid(where, "missing 'name'")
    name = _string(call["name"], where, "'name'")
    tool_input = call.get("input")
    if tool_input is not None:
        tool_input = _object(tool_input, where, "'input'")
    error = call.get("error")
    if error is not None:
        error = _string(error, where, "'error'")
    call_id = call.get("id")
    if call_id is not None:
        call_id = _string(call_id, where, "'id'")
    return scenario.tool_call(
        name, tool_input, output=call.get("output"), error=error, call_id=call_id
    )


def _usage_step(scenario: Scenario, step: dict[str, Any], where: str) -> Scenario:
    usage = _object(step["usage"], where, "'usage'")
    fields = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")
    _only(usage, set(fields), where)
    counts = {key: _integer(usage.get(key, 0), where, repr(key), minimum=0) for key in fields}
    return scenario.usage(
        counts["input_tokens"],
        counts["output_tokens"],
        cache_read_tokens=counts["cache_read_tokens"],
        cache_creation_tokens=counts["cache_creation_tokens"],
    )


def _end_turn_step(scenario: Scenario, step: dict[str, Any], where: str) -> Scenario:
    value = step["end_turn"]
    if value is None or value is True:
        return scenario.end_turn()
    return scenario.end_turn(_string(value, where, "'end_turn'"))


def _delay_step(scenario: Scenario, step: dict[str, Any], where: str) -> Scenario:
    value = step["delay"]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _invalid(where, f"'delay' must be a non-negative number of seconds, got {value!r}")
    if not math.isfinite(value):
        raise _invalid(where, "'delay' must be finite")
    return scenario.delay(float(value))


def _fail_step(scenario: Scenario, step: dict[str, Any], where: str) -> Scenario:
    value = step["fail"]
    if isinstance(value, str):
        return scenario.fail(_string(value, where, "'fail'"))
    fail = _object(value, where, "'fail'")
    _only(fail, {"message", "code", "retryable"}, where)
    if "message" not in fail:
        raise _invalid(where, "missing 'message'")
    message = _string(fail["message"], where, "'message'")
    code = _string(fail.get("code", "provider_error"), where, "'code'")
    retryable = fail.get("retryable")
    if retryable is not None and not isinstance(retryable, bool):
        raise _invalid(where, f"'retryable' must be true, false or null, got {retryable!r}")
    return scenario.fail(message, code=code, retryable=retryable)


def _event_step(scenario: Scenario, step: dict[str, Any], where: str) -> Scenario:
    event = _object(step["event"], where, "'event'")
    _only(event, {"type", "data"}, where)
    if "type" not in event:
        raise _invalid(where, "missing 'type'")
    event_type = _string(event["type"], where, "'type'")
    data = event.get("data")
    if data is not None:
        data = _object(data, where, "'data'")
    return scenario.event(event_type, data)


_STEPS: dict[str, Callable[[Scenario, dict[str, Any], str], Scenario]] = {
    "text": _text_step,
    "tool_call": _tool_call_step,
    "usage": _usage_step,
    "end_turn": _end_turn_step,
    "delay": _delay_step,
    "fail": _fail_step,
    "event": _event_step,
}


# -- checks -----------------------------------------------------------------------------------
def _invalid(where: str, problem: str) -> ValidationError:
    return ValidationError(f"{where}: {problem}", details={"where": where})


def _string(value: Any, where: str, what: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise _invalid(where, f"{what} must be a non-empty string, got {value!r}")
    return value


def _integer(value: Any, where: str, what: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _invalid(where, f"{what} must be an integer >= {minimum}, got {value!r}")
    return value


def _object(value: Any, where: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(where, f"{what} must be an object, got {_json_type(value)}")
    return value


def _only(value: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(value) - allowed)
    if extra:
        raise _invalid(where, f"unknown key {extra[0]!r} (expected: {', '.join(sorted(allowed))})")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
