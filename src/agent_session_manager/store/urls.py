"""Store URLs shown to people: the password masked.

Public because the CLI, the migrations and the testing kit all print store URLs. Imports nothing
at import time (the CLI imports it on its start-up path) and knows no backend.
"""

from __future__ import annotations

__all__ = ["hide_password"]


def hide_password(url: str) -> str:
    """``url`` with any password replaced by ``***``, the rest as written (summaries, errors
    and logs must not show credentials); a URL that cannot be parsed is not shown at all."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparsable URL>"
    if password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return parts._replace(netloc=f"{user}:***@{hostport}").geturl()
