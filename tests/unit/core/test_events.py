from __future__ import annotations

import pytest

from agent_session_manager import EVENT_SCHEMAS, Event, EventType, ValidationError
from agent_session_manager.core.events import validate_event_data, validate_event_type


def test_every_canonical_type_has_a_documented_schema() -> None:
    assert set(EVENT_SCHEMAS) == set(EventType)
    assert all(schema.description for schema in EVENT_SCHEMAS.values())


def test_missing_required_key_is_malformed() -> None:
    with pytest.raises(ValidationError) as info:
        validate_event_data("tool_call_started", {"tool_name": "bash", "tool_input": {}})
    assert info.value.code == "malformed_event"
    assert "tool_call_id" in info.value.message


def test_wrong_type_is_malformed_and_bool_is_not_an_int() -> None:
    with pytest.raises(ValidationError, match="input_tokens"):
        validate_event_data("token_usage_updated", {"input_tokens": True, "output_tokens": 1})
    with pytest.raises(ValidationError, match="must be a JSON object"):
        validate_event_data("message_streamed", ["not", "a", "dict"])


def test_optional_keys_are_type_checked_when_present() -> None:
    validate_event_data("tool_call_completed", {"tool_call_id": "c", "tool_name": "t"})
    with pytest.raises(ValidationError, match="duration_ms"):
        validate_event_data(
            "tool_call_completed", {"tool_call_id": "c", "tool_name": "t", "duration_ms": "1"}
        )


def test_custom_types_are_allowed_and_their_data_is_free_form() -> None:
    assert validate_event_type("myapp.checkpoint") == "myapp.checkpoint"
    validate_event_data("myapp.checkpoint", {"anything": [1, {"nested": None}]})
    for bad in ("", "1abc", "has space", "x" * 200, None, 3):
        with pytest.raises(ValidationError) as info:
            validate_event_type(bad)
        assert info.value.code == "invalid_event_type"


def test_event_dict_round_trip_keeps_unknown_keys() -> None:
    event = Event(
        "myapp.custom",
        "ses_1",
        {"unknown": {"deep": ["é", 1.5, None]}},
        run_id="run_1",
        metadata={"k": "v"},
        provider="p",
    ).with_sequence(7)
    raw = event.to_dict()
    assert raw["timestamp"].endswith("Z")
    assert Event.from_dict(raw) == event


def test_ids_are_prefixed_and_time_sortable() -> None:
    ids = [Event("x", "s").id for _ in range(1000)]
    assert all(i.startswith("evt_") and len(i) == 36 for i in ids)
    assert ids == sorted(ids)


def test_malformed_record_raises_validation_error() -> None:
    with pytest.raises(ValidationError):
        Event.from_dict({"type": "run_started"})


def test_the_constructor_makes_fresh_defaults_and_keeps_dataclass_behaviour() -> None:
    import dataclasses

    first, second = Event("a.b", "ses_1"), Event("a.b", "ses_1")
    assert first.data == {}
    assert first.metadata == {}
    assert first.data is not second.data
    assert first.metadata is not second.metadata
    assert first.id != second.id
    assert first.id.startswith("evt_")
    assert first.timestamp.tzinfo is not None
    positional = Event("a.b", "ses_1", {"k": 1}, "run_1", {"m": 2}, "p", "evt_x", first.timestamp)
    assert (positional.data, positional.run_id, positional.metadata) == (
        {"k": 1},
        "run_1",
        {"m": 2},
    )
    assert (positional.provider, positional.id, positional.sequence_number) == ("p", "evt_x", None)
    assert positional.schema_version == 1
    assert dataclasses.replace(positional, run_id="run_2") == Event(
        "a.b", "ses_1", {"k": 1}, "run_2", {"m": 2}, "p", "evt_x", first.timestamp
    )
    assert [f.name for f in dataclasses.fields(Event)][:2] == ["type", "session_id"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        positional.type = "c.d"  # type: ignore[misc]
