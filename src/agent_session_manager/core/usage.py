"""Token usage arithmetic.

``input_tokens`` counts every prompt token, including cache reads and cache writes (their
breakdown is in ``cache_read_tokens`` / ``cache_creation_tokens``), so ``total_tokens`` is simply
input + output whatever the provider. Addition is explicit; providers that report cumulative
figures are turned into per-turn deltas with :meth:`TokenUsage.since`, never added twice.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, NonNegativeInt

__all__ = ["TokenUsage"]


class TokenUsage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    input_tokens: NonNegativeInt = 0
    output_tokens: NonNegativeInt = 0
    cache_read_tokens: NonNegativeInt = 0
    cache_creation_tokens: NonNegativeInt = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: object) -> TokenUsage:
        if not isinstance(other, TokenUsage):
            return NotImplemented
        return TokenUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_creation_tokens=self.cache_creation_tokens + other.cache_creation_tokens,
        )

    def since(self, earlier: TokenUsage) -> TokenUsage:
        """The usage added between a cumulative snapshot ``earlier`` and this one.

        Figures never go negative: a provider that resets its counters yields its new figures.
        """
        return TokenUsage(
            input_tokens=_delta(self.input_tokens, earlier.input_tokens),
            output_tokens=_delta(self.output_tokens, earlier.output_tokens),
            cache_read_tokens=_delta(self.cache_read_tokens, earlier.cache_read_tokens),
            cache_creation_tokens=_delta(self.cache_creation_tokens, earlier.cache_creation_tokens),
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_creation_tokens": self.cache_creation_tokens,
            "total_tokens": self.total_tokens,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenUsage:
        """Read a usage mapping, ignoring ``total_tokens`` (it is always derived)."""
        return cls(
            **{k: data[k] for k in _FIELDS if k in data and data[k] is not None},
        )


_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")


def _delta(now: int, before: int) -> int:
    return now - before if now >= before else now
