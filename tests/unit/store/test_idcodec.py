"""The event table's id encoding: one to one, compact for the library's own ids."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent_session_manager.core.ids import new_event_id, new_run_id
from agent_session_manager.store._idcodec import (
    EVENT_ID_PREFIX,
    RUN_ID_PREFIX,
    decode_id,
    decode_optional_id,
    encode_id,
    encode_optional_id,
)

_hex_ids = st.text("0123456789abcdef", min_size=32, max_size=32).map(lambda h: "evt_" + h)
_any_ids = st.one_of(
    _hex_ids,
    st.text(min_size=1),
    st.text("0123456789abcdefABCDEF ", min_size=30, max_size=34).map(lambda h: "evt_" + h),
)


def test_library_ids_take_16_bytes() -> None:
    event_id, run_id = new_event_id(), new_run_id()
    assert len(encode_id(event_id, EVENT_ID_PREFIX)) == 16
    assert len(encode_id(run_id, RUN_ID_PREFIX)) == 16
    assert decode_id(encode_id(event_id, EVENT_ID_PREFIX), EVENT_ID_PREFIX) == event_id
    assert decode_id(encode_id(run_id, RUN_ID_PREFIX), RUN_ID_PREFIX) == run_id


def test_other_spellings_are_kept_as_written() -> None:
    for value in (
        "evt_" + "A" * 32,  # upper case: not the canonical spelling
        "evt_ff" + "0" * 30,  # a UUID starting with ff takes the general form
        "evt_" + "0" * 31 + " ",  # fromhex would skip the space
        "run_" + "0" * 32,  # a run id in the event id column
        "custom-id",
        "日本語",
    ):
        raw = encode_id(value, EVENT_ID_PREFIX)
        assert raw[:1] == b"\xff"
        assert decode_id(raw, EVENT_ID_PREFIX) == value


def test_none_passes_through() -> None:
    assert encode_optional_id(None, RUN_ID_PREFIX) is None
    assert decode_optional_id(None, RUN_ID_PREFIX) is None
    assert decode_optional_id(encode_optional_id("run_x", RUN_ID_PREFIX), RUN_ID_PREFIX) == "run_x"


@given(_any_ids)
def test_round_trip(value: str) -> None:
    assert decode_id(encode_id(value, EVENT_ID_PREFIX), EVENT_ID_PREFIX) == value


@given(_any_ids, _any_ids)
def test_distinct_ids_never_collide(a: str, b: str) -> None:
    if a != b:
        assert encode_id(a, EVENT_ID_PREFIX) != encode_id(b, EVENT_ID_PREFIX)
