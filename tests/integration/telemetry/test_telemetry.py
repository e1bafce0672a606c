"""Telemetry in a fresh interpreter: OpenTelemetry is loaded only when a telemetry is created."""

from __future__ import annotations

import subprocess
import sys


def test_the_package_loads_opentelemetry_only_when_a_telemetry_is_created() -> None:
    code = (
        "import sys\n"
        "from agent_session_manager.telemetry import AuditLog, Instrumentation, Telemetry\n"
        "print(any(m.startswith('opentelemetry') for m in sys.modules))\n"
        "Telemetry()\n"
        "print('opentelemetry.trace' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]
