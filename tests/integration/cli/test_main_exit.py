"""``asm`` skips the interpreter's teardown at exit but must still do what a normal exit does
that users can observe: join non-daemon threads, run atexit handlers, flush output, and exit
with the command's code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import atexit, sys, threading, time
from pathlib import Path
out = Path(sys.argv[1])
atexit.register(lambda: out.with_suffix(".atexit").write_text("ran"))
def late():
    time.sleep(0.2)
    out.with_suffix(".thread").write_text("joined")
threading.Thread(target=late).start()
sys.stdout.write("buffered, not flushed")
from agent_session_manager.cli import main
main(sys.argv[2:])
"""


def test_exit_joins_threads_runs_atexit_handlers_and_flushes(tmp_path: Path) -> None:
    out = tmp_path / "marker"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out), "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("buffered, not flushedasm ")
    assert out.with_suffix(".atexit").read_text() == "ran"
    assert out.with_suffix(".thread").read_text() == "joined"


def test_exit_keeps_the_commands_exit_code(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "m"), "frobnicate"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "No such command 'frobnicate'" in done.stderr
