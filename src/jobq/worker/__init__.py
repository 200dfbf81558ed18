"""The worker pool: claims jobs from the store and runs them."""

from __future__ import annotations

from jobq.worker.config import PoolConfig
from jobq.worker.pool import WorkerPool

__all__ = ["PoolConfig", "WorkerPool"]
