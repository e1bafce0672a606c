"""Renders the event table of docs/events.md from EVENT_SCHEMAS (a test keeps them equal)."""

from __future__ import annotations

from agent_session_manager import EVENT_SCHEMAS

BEGIN = "<!-- event-table:begin (generated from EVENT_SCHEMAS; tests check it) -->"
END = "<!-- event-table:end -->"


def _fields(fields: dict[str, tuple[type, ...]]) -> str:
    if not fields:
        return "—"
    return ", ".join(
        f"`{key}` ({' or '.join(t.__name__ for t in types).replace('object', 'any')})"
        for key, types in fields.items()
    )


def render() -> str:
    rows = [
        BEGIN,
        "| type | meaning | required data | optional data |",
        "|---|---|---|---|",
    ]
    for event_type, schema in EVENT_SCHEMAS.items():
        rows.append(
            f"| `{event_type.value}` | {schema.description} | {_fields(schema.required)} "
            f"| {_fields(schema.optional)} |"
        )
    rows.append(END)
    return "\n".join(rows)


if __name__ == "__main__":
    print(render())
