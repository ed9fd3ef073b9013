"""benchmarks/bench.py: an interrupted run ends what it started (nothing writes on afterwards)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from benchmarks import bench


def test_an_interrupted_measure_ends_the_command_and_what_it_started(tmp_path):
    started = tmp_path / "started"
    # A command that leaves a grandchild running, as npx leaves node and node the app.
    command = ["bash", "-c", f"sleep 60 & echo $! > {started}; wait"]

    def interrupt(_signum, _frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    try:
        with pytest.raises(KeyboardInterrupt):
            bench.timed(command, tmp_path)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    grandchild = int(started.read_text())
    deadline = time.monotonic() + 10
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(grandchild):
        os.kill(grandchild, signal.SIGKILL)
        pytest.fail("the command's child outlived the interrupt")


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for init to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
