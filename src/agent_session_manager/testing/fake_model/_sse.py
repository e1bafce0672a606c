"""Server-sent events as both fake APIs stream them: the response, one event, the end, text cut
into deltas, and how a scripted delay is awaited.

Knows aiohttp and the SSE framing only; nothing of scripts or of either API's event names.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from aiohttp import web

#: Sleeps for a scripted delay (the server wakes it at once when it stops).
Pause = Callable[[float], Awaitable[None]]


def chunks(value: str, size: int = 16) -> Iterator[str]:
    """``value`` cut into the deltas a stream sends (one empty delta for empty text)."""
    if not value:
        yield ""
        return
    for start in range(0, len(value), size):
        yield value[start : start + size]


async def sse_response(request: web.Request) -> web.StreamResponse:
    """A prepared ``text/event-stream`` response."""
    response = web.StreamResponse(
        status=200,
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    return response


async def sse(response: web.StreamResponse, event: str, data: Mapping[str, Any]) -> None:
    """Send one event (``event:`` name, ``data:`` JSON)."""
    # A client that went away (a cancelled CLI) just stops receiving: no error to log.
    with contextlib.suppress(ConnectionResetError):
        await response.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())


async def end(response: web.StreamResponse) -> None:
    """End the stream."""
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
