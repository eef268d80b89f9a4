"""Process exit with an unreachable OTLP collector waits at most `EXIT_TIMEOUT` (5 s), not 10."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from stratum.trace._worker import EXIT_TIMEOUT
from tests._servers import Fault, FaultServer

SCRIPT = """
import sys
import stratum
from stratum.trace import OtlpExporter

stratum.configure(trace_sinks=[OtlpExporter(sys.argv[1])])

@stratum.compute
def double(x: int) -> int:
    return 2 * x

@stratum.flow
async def main() -> int:
    return double(21)

assert stratum.run(main()) == 42
"""

BARE = "import stratum\nfrom stratum.trace import OtlpExporter\n"


def _seconds(code: str, *args: str) -> float:
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", code, *args], env=env, check=True, timeout=60)
    return time.monotonic() - started


def test_exit_with_a_collector_that_never_answers_waits_at_most_the_exit_timeout(fault_server: FaultServer) -> None:
    fault_server.always(Fault(stall=True))  # accepts the export and never answers (its timeout is 10 s)
    startup = _seconds(BARE)
    total = _seconds(SCRIPT, fault_server.url)
    # before: flush (5 s) then join (5 s more) at exit; now one 5 s budget for the whole close
    assert total - startup < EXIT_TIMEOUT + 2.5
    assert len(fault_server.requests) >= 1  # it did try to export
