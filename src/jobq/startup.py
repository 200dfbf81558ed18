"""Where a process's start-up is, for ``/ready`` while it cannot reach its store yet. Plain
data: the service sets it, the HTTP side reads it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Startup:
    #: why the store cannot be reached yet (the last attempt's error); None: not tried yet
    error: str | None = None
    #: attempts to open the store so far
    attempts: int = 0

    def reason(self) -> str:
        """What to answer meanwhile: the state only. It goes to anyone (probes need no token
        and no token can be checked yet), so the error itself, which may name hosts and
        users, is only logged (``store_waiting``)."""
        if self.error is None:
            return "jobq is starting: opening the store"
        return (
            f"jobq is starting and cannot reach the store yet ({self.attempts} attempts); it "
            "keeps trying, and its log says why (store_waiting)"
        )
