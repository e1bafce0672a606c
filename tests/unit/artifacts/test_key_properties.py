"""Property tests for the key rules: whatever text a caller passes, a key that is accepted names
a path inside the store, and every accepted key round-trips through the prefix rules."""

from __future__ import annotations

import posixpath

from hypothesis import given
from hypothesis import strategies as st

from agent_session_manager import ValidationError
from agent_session_manager.artifacts._keys import check_key, check_prefix, content_key

_SEGMENT_CHARS = st.sampled_from([*"ab.-_/\\\x00 é✓:~", "..", "//"])
_KEYS = st.lists(_SEGMENT_CHARS, min_size=0, max_size=12).map("".join)


@given(_KEYS)
def test_accepted_keys_never_leave_the_root(key: str) -> None:
    try:
        checked = check_key(key)
    except ValidationError:
        return
    normal = posixpath.normpath(posixpath.join("/root", checked))
    assert normal.startswith("/root/")
    assert normal == "/root/" + checked  # nothing to normalise away: no '.', '..' or '//'
    assert "\\" not in checked
    assert "\x00" not in checked


@given(_KEYS)
def test_every_accepted_key_is_an_accepted_prefix(key: str) -> None:
    try:
        check_key(key)
    except ValidationError:
        return
    assert check_prefix(key) == key
    assert check_prefix(key + "/") == key + "/"


@given(st.binary(max_size=64), st.sampled_from(["", "sessions/ses_1/", "x"]))
def test_content_keys_are_valid_and_deterministic(data: bytes, prefix: str) -> None:
    key = content_key(data, prefix)
    assert check_key(key) == key
    assert key == content_key(bytes(data), prefix)
    assert len(key.rpartition("/")[2]) == 64
