"""Text helpers shared by the renderers: ANSI styling, safe previews and model-name shortening.

Pure string work over arbitrary (possibly malformed) event data: every helper here accepts any
value and returns a string, so a renderer built on them cannot crash on unexpected data. It knows
nothing about stores, providers or terminals beyond ANSI escape codes.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

RED = "\x1b[0;31m"
GREEN = "\x1b[0;32m"
BLUE = "\x1b[0;34m"
MAGENTA = "\x1b[0;35m"
DIM = "\x1b[2m"
RESET = "\x1b[0m"

# C0/C1 control characters other than tab and newline: a provider's text must not be able to
# move the cursor, change colours or retitle the terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"\s+")


def style(text: str, code: str, *, color: bool) -> str:
    """``text`` wrapped in an ANSI ``code`` when ``color`` is on."""
    return f"{code}{text}{RESET}" if color and text else text


def sanitize(text: str) -> str:
    """``text`` with terminal control characters removed (newlines and tabs kept)."""
    return _CONTROL.sub("", text)


def to_text(value: Any) -> str:
    """Any value as display text: strings as is, everything else as compact JSON.

    Values JSON cannot encode fall back to ``str`` (then ``repr``); this never raises.
    """
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except Exception:
        try:
            return str(value)
        except Exception:
            return object.__repr__(value)


def preview(value: Any, limit: int) -> str:
    """One line showing ``value``: whitespace collapsed, cut at ``limit`` characters + "..."."""
    text = _SPACES.sub(" ", sanitize(to_text(value))).strip()
    if len(text) > limit:
        return text[:limit] + "..."
    return text


def text_field(data: Any, *keys: str) -> str:
    """The first of ``keys`` in ``data`` that holds a non-empty value, as text ("" if none)."""
    if not isinstance(data, dict):
        return ""
    for key in keys:
        value = data.get(key)
        if value is not None and value != "":
            return to_text(value)
    return ""


def number(value: Any) -> int | float | None:
    """``value`` if it is a real number (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def short_model(model: str) -> str:
    """``claude-sonnet-4-5-20250929`` → ``sonnet-4-5``: drop a vendor prefix, keep 3 parts."""
    name = model
    for prefix in ("anthropic.", "claude-"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return "-".join(name.split("-")[:3])


def short_reason(reason: str) -> str:
    """Stop reasons as compact tokens: ``tool_use`` → ``tool``, ``end_turn`` → ``end``."""
    return {"tool_use": "tool", "end_turn": "end"}.get(reason, reason.lower())


def plural(count: int, noun: str) -> str:
    """``1 event``, ``2 events``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
