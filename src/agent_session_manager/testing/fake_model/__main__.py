"""``python -m agent_session_manager.testing.fake_model``: serve a script file until interrupted.

Prints one JSON line with the server's ``url`` and ``port`` (what a caller parses), then serves.
A command, not library code: it writes to stdout and sleeps on the main thread.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from agent_session_manager.testing.fake_model._script import Script, ScriptError
from agent_session_manager.testing.fake_model._server import FakeModelServer

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m agent_session_manager.testing.fake_model --script FILE [--port N] [--log F]``."""
    parser = argparse.ArgumentParser(
        prog="python -m agent_session_manager.testing.fake_model",
        description="Serve a scripted fake Anthropic/OpenAI model API on 127.0.0.1.",
    )
    parser.add_argument("--script", type=Path, help="JSON script (rules, default, stubs)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--log", type=Path, help="append every request to this JSONL file")
    args = parser.parse_args(argv)
    try:
        script = Script.load(args.script) if args.script else Script()
    except ScriptError as exc:
        parser.error(str(exc))
    server = FakeModelServer(script, port=args.port, log_path=args.log).start()
    # The one line a caller parses to find the port (this is a command, not library code).
    announce = json.dumps({"url": server.url, "port": server.port})
    sys.stdout.write(announce + "\n")
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
