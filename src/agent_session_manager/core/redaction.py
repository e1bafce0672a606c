"""Secrets redaction: find credentials in event payloads and replace them before persistence.

Pure string work. A :class:`Redactor` holds named patterns; :meth:`Redactor.redact` walks any
JSON-like value and returns a copy with every match replaced (the input is never mutated), plus the
number of replacements. A pattern's regex runs only on strings that contain one of its lowercase
keywords (plain substring checks), so ordinary text costs a few ``in`` checks and no regex scan.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_PATTERNS", "DEFAULT_REPLACEMENT", "Redactor", "SecretPattern"]

DEFAULT_REPLACEMENT = "[REDACTED]"
_MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class SecretPattern:
    """A named secret format.

    ``group`` selects the part of a match to replace (0 = all of it), so ``password=hunter2``
    keeps ``password=`` and loses only the value. ``keywords`` are lowercase substrings at least
    one of which every match contains; the regex only runs on text containing one (no keywords:
    it always runs). They are what keeps redaction cheap on ordinary text.
    """

    name: str
    regex: str
    group: int = 0
    keywords: tuple[str, ...] = ()


DEFAULT_PATTERNS: tuple[SecretPattern, ...] = (
    SecretPattern(
        "private_key",
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
        keywords=("private key-----",),
    ),
    SecretPattern("anthropic_key", r"sk-ant-[A-Za-z0-9_\-]{20,}", keywords=("sk-ant-",)),
    SecretPattern(
        "openai_key", r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}", keywords=("sk-",)
    ),
    SecretPattern("aws_access_key", r"(?:AKIA|ASIA)[0-9A-Z]{16}\b", keywords=("akia", "asia")),
    SecretPattern(
        "aws_secret_key",
        r"(?i:aws_?secret_?access_?key)[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+=]{40})",
        1,
        ("secret",),
    ),
    SecretPattern("gcp_api_key", r"AIza[0-9A-Za-z_\-]{35}", keywords=("aiza",)),
    SecretPattern(
        "github_token",
        r"gh[pousr]_[A-Za-z0-9]{36,}",
        keywords=("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    ),
    SecretPattern("github_fine_pat", r"github_pat_[A-Za-z0-9_]{22,}", keywords=("github_pat_",)),
    SecretPattern("gitlab_token", r"glpat-[A-Za-z0-9_\-]{20,}", keywords=("glpat-",)),
    SecretPattern("slack_token", r"xox[abposr]-[A-Za-z0-9-]{10,}", keywords=("xox",)),
    SecretPattern("stripe_key", r"[rs]k_live_[A-Za-z0-9]{20,}", keywords=("k_live_",)),
    SecretPattern(
        "jwt",
        r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
        keywords=("eyj",),
    ),
    SecretPattern(
        "bearer_token", r"(?i:bearer)\s+([A-Za-z0-9._~+/\-]{20,}=*)", 1, keywords=("bearer",)
    ),
    SecretPattern(
        "connection_string_password",
        r"(?i:\b(?:postgres(?:ql)?|mysql|mariadb|rediss?|mongodb(?:\+srv)?|amqps?|mssql))"
        r"://[^:/@\s]+:([^@\s]+)@",
        1,
        ("://",),
    ),
    SecretPattern(
        "assigned_secret",
        r"(?i:\b(?:password|passwd|pwd|secret|secret_key|api[_-]?key|access[_-]?token"
        r"|auth[_-]?token|client[_-]?secret|private[_-]?key))[\"']?\s*[:=]\s*[\"']?"
        r"([^\s\"'&,;]{4,})",
        1,
        ("passw", "pwd", "secret", "key", "token"),
    ),
)


class Redactor:
    """Replaces secrets in strings, dicts and lists.

    ``replacement`` may contain ``{name}`` to say which pattern matched
    (``"[REDACTED:{name}]"``).
    """

    def __init__(
        self,
        patterns: Iterable[SecretPattern] = DEFAULT_PATTERNS,
        *,
        extra_patterns: Iterable[SecretPattern] = (),
        replacement: str = DEFAULT_REPLACEMENT,
    ) -> None:
        self.patterns = (*patterns, *extra_patterns)
        self.replacement = replacement
        self._compiled = [(p, re.compile(p.regex)) for p in self.patterns]
        self._always = any(not p.keywords for p in self.patterns)
        self._keywords = tuple(sorted({k.lower() for p in self.patterns for k in p.keywords}))
        # No secret format matches fewer characters than this; ids, roles and tool names are
        # shorter and skip every check.
        self._min_length = 8

    def redact_text(self, text: str) -> tuple[str, int]:
        """Return ``text`` with secrets replaced, and how many were replaced."""
        if len(text) < self._min_length:
            return text, 0
        lowered = text.lower()
        if not self._always and not self._mentions_keyword(lowered):
            return text, 0
        count = 0
        for pattern, compiled in self._compiled:
            if pattern.keywords and not any(k in lowered for k in pattern.keywords):
                continue
            replacement = self.replacement.format(name=pattern.name)

            def _sub(
                match: re.Match[str], group: int = pattern.group, rep: str = replacement
            ) -> str:
                nonlocal count
                count += 1
                if group == 0:
                    return rep
                whole = match.group(0)
                start, end = match.start(group) - match.start(0), match.end(group) - match.start(0)
                return whole[:start] + rep + whole[end:]

            text = compiled.sub(_sub, text)
        return text, count

    def _mentions_keyword(self, lowered: str) -> bool:
        # A plain loop of ``in`` checks measured 2x faster than any() or a regex alternation.
        for keyword in self._keywords:  # noqa: SIM110
            if keyword in lowered:
                return True
        return False

    def redact(self, value: Any) -> tuple[Any, int]:
        """Redact every string inside ``value`` (a JSON-like tree). Unchanged parts are shared,
        not copied; a changed container is a new object, so the input is never mutated."""
        return self._walk(value, 0)

    def _walk(self, value: Any, depth: int) -> tuple[Any, int]:
        if isinstance(value, str):
            return self.redact_text(value)
        if depth >= _MAX_DEPTH:
            return value, 0
        if isinstance(value, dict):
            total = 0
            changed: dict[Any, Any] | None = None
            for key, item in value.items():
                new_item, count = self._walk(item, depth + 1)
                if count:
                    if changed is None:
                        changed = dict(value)
                    changed[key] = new_item
                    total += count
            return (changed if changed is not None else value), total
        if isinstance(value, list | tuple):
            total = 0
            items: list[Any] | None = None
            for index, item in enumerate(value):
                new_item, count = self._walk(item, depth + 1)
                if count:
                    if items is None:
                        items = list(value)
                    items[index] = new_item
                    total += count
            return (items if items is not None else value), total
        return value, 0
