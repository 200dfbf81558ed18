"""How a worker pool is set up, and what its stop came to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolConfig:
    worker_count: int = 10
    #: claimed jobs waiting for a free worker, at most (the buffer's hard bound)
    capacity: int = 100
    #: jobs claimed beyond the free workers, so that a worker that finishes finds its next job
    #: at hand (the rest stay in the store for the fleet); "auto": as many as the workers
    #: finish during two claims, measured (``prefetch.py``)
    prefetch: int | Literal["auto"] = "auto"
    lease_seconds: float = 30.0
    poll_interval: float = 1.0
    #: None: every queue
    queues: tuple[str, ...] | None = None
    shutdown_timeout: float = 30.0
    #: seconds between retention sweeps (``pruner.py``)
    prune_interval: float = 10.0

    @property
    def heartbeat_interval(self) -> float:
        return self.lease_seconds / 3

    @property
    def reap_interval(self) -> float:
        return max(0.05, min(self.lease_seconds / 2, 5.0))


@dataclass(frozen=True, slots=True)
class StopReport:
    #: claimed jobs no worker had started, handed back with their attempt
    released_unstarted: int
    #: jobs running when the stop began that finished within the grace
    finished_in_grace: int
    #: jobs still running at the end of the grace, interrupted and handed back
    interrupted: int
