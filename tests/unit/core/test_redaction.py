from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_session_manager import Redactor, SecretPattern

SECRETS = {
    "anthropic": "sk-ant-api03-" + "a1B2" * 10,
    "openai": "sk-proj-" + "Q" * 30,
    "openai_legacy": "sk-" + "x9" * 24,
    "aws": "AKIA" + "ABCDEFGHIJKLMNOP",
    "gcp": "AIza" + "S" * 35,
    "github": "ghp_" + "a" * 36,
    "github_fine": "github_pat_" + "b" * 30,
    "gitlab": "glpat-" + "c" * 20,
    "slack": "xoxb-" + "1234567890-abc",
    "stripe": "sk_live_" + "d" * 24,
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    + "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_default_patterns_catch_common_formats(name: str) -> None:
    secret = SECRETS[name]
    text, count = Redactor().redact_text(f"before {secret} after")
    assert secret not in text
    assert count >= 1
    assert text.startswith("before ")
    assert text.endswith(" after")


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        ("password=hunter22", "password=", "hunter22"),
        ('{"api_key": "abcd1234efgh"}', '"api_key"', "abcd1234efgh"),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123", "Bearer ", "abcdefghijklmnop"),
        ("postgresql://app:s3cr3tpw@db:5432/prod", "postgresql://app:", "s3cr3tpw"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "", "MIIEow"),
    ],
)
def test_only_the_secret_part_is_replaced(text: str, kept: str, gone: str) -> None:
    redacted, count = Redactor().redact_text(text)
    assert count == 1
    assert kept in redacted
    assert gone not in redacted


def test_plain_text_is_untouched() -> None:
    text = "The tokens used were 120 in and 30 out; keyboard, monkey, tokenizer."
    assert Redactor().redact_text(text) == (text, 0)


def test_nested_values_are_redacted_without_mutating_the_input() -> None:
    data = {"output": {"lines": ["ok", f"key={SECRETS['github']}"]}, "n": 3, "flag": True}
    original = copy.deepcopy(data)
    redacted, count = Redactor().redact(data)
    assert count == 1
    assert data == original
    assert SECRETS["github"] not in str(redacted)
    assert redacted["n"] == 3
    assert redacted["flag"] is True


def test_extra_patterns_and_categorised_replacement() -> None:
    redactor = Redactor(
        extra_patterns=[SecretPattern("ticket", r"TCK-\d{6}", keywords=("tck-",))],
        replacement="[REDACTED:{name}]",
    )
    text, _ = redactor.redact_text(f"TCK-123456 and {SECRETS['aws']}")
    assert text == "[REDACTED:ticket] and [REDACTED:aws_access_key]"


@given(st.text(max_size=300))
def test_redaction_never_grows_secret_text_and_is_idempotent(text: str) -> None:
    redactor = Redactor()
    once, _ = redactor.redact_text(text)
    twice, count = redactor.redact_text(once)
    assert twice == once
    assert count == 0 or "[REDACTED]" in once
