"""Bounded waits: one deadline per command, and a line whenever what is waited for changes."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
# A minute between lines at most, so a long wait in one state still shows it is alive.
HEARTBEAT_SECONDS = 60


class OpsError(Exception):
    """Ends the command: ``details`` lines first, then `error: <message>` on one line."""

    def __init__(self, message: str, *, details: Sequence[str] = (), code: int = 1) -> None:
        super().__init__(message)
        self.details, self.code = list(details), code


def seconds_from_env(name: str, default: float, *, zero_allowed: bool) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_allowed):
        least = "0 or more" if zero_allowed else "more than 0"
        raise OpsError(f"{name}={raw!r}: expected a number of seconds, {least}", code=2)
    return value


class Poll:
    """Every wait of a command shares one deadline, so WAIT_SECONDS bounds them all together."""

    def __init__(self, *, wait_seconds: float, poll_seconds: float) -> None:
        self.wait_seconds, self.poll_seconds = wait_seconds, poll_seconds
        self.start = time.monotonic()
        self.shown: tuple[str, str, float] = ("", "", 0.0)

    def remaining(self) -> float:
        return max(0.0, self.start + self.wait_seconds - time.monotonic())

    def show(self, what: str, state: str) -> None:
        now = time.monotonic()
        if self.shown[:2] != (what, state) or now - self.shown[2] >= HEARTBEAT_SECONDS:
            print(f"[{now - self.start:4.0f}s] {what}: {state}", flush=True)
            self.shown = (what, state, now)

    def timed_out(self, what: str, state: str, *, hint: str) -> OpsError:
        elapsed = time.monotonic() - self.start
        return OpsError(
            f"{what} still '{state}' after {elapsed:.0f}s (WAIT_SECONDS={self.wait_seconds:g}); {hint}"
        )

    def until(self, what: str, look: Callable[[], tuple[str, T | None]], *, hint: str) -> T:
        """Call ``look`` until it returns (state, result) with a result; it raises OpsError to stop."""
        while True:
            state, result = look()
            self.show(what, state)
            if result is not None:
                return result
            if not self.remaining():
                raise self.timed_out(what, state, hint=hint)
            time.sleep(min(self.poll_seconds, self.remaining()))
