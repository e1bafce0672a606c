"""Property test: any session log (custom types, unicode, nested JSON of any shape) survives an
export and an import unchanged."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_session_manager import Event, InMemorySessionStore, Session, import_session
from agent_session_manager.maintenance import export_session_text

_JSON: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["acme.note", "x:y/z-1", "session_started"]),
        st.dictionaries(st.text(max_size=8), _JSON, max_size=4),
        st.integers(min_value=0, max_value=10**9),
    ),
    max_size=8,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_EVENTS, st.dictionaries(st.text(max_size=8), _JSON, max_size=3))
def test_any_log_round_trips(events: list[tuple[str, dict[str, Any], int]], meta: Any) -> None:
    async def main() -> None:
        source, target = InMemorySessionStore(), InMemorySessionStore()
        session = Session(agent_id="ä", metadata=meta)
        await source.save_session(session)
        base = datetime(2031, 5, 6, tzinfo=UTC)
        for kind, data, micros in events:
            await source.append_event(
                Event(
                    type=kind,
                    session_id=session.id,
                    data=data,
                    timestamp=base + timedelta(microseconds=micros),
                )
            )
        await import_session(target, await export_session_text(source, session.id))
        assert (await target.get_session(session.id)) == session
        assert await target.get_events(session.id) == await source.get_events(session.id)

    asyncio.run(main())
