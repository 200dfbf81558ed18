"""Prometheus metrics. Takes its own ``CollectorRegistry`` so tests and embedders stay apart."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from jobq.domain.job import QueueCount, counts_by_queue
from jobq.domain.states import JobState

RUN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.enqueued = Counter(
            "jobq_jobs_enqueued", "Jobs accepted into the store.", ["queue", "type"], registry=r
        )
        self.finished = Counter(
            "jobq_jobs_finished",
            "Attempts that ended, by outcome: succeeded, failed (will retry), dead, "
            "lease_lost (another worker owned the job), not_written (store unavailable).",
            ["queue", "type", "outcome"],
            registry=r,
        )
        self.run_seconds = Histogram(
            "jobq_job_run_seconds",
            "Handler run time.",
            ["queue", "type"],
            buckets=RUN_BUCKETS,
            registry=r,
        )
        self.wait_seconds = Histogram(
            "jobq_job_wait_seconds",
            "Time from when a job was due to when a worker started it.",
            ["queue", "type"],
            buckets=RUN_BUCKETS,
            registry=r,
        )
        self.retried = Counter(
            "jobq_jobs_retried",
            "Failed attempts given another try later.",
            ["queue", "type"],
            registry=r,
        )
        self.leases_expired = Counter(
            "jobq_leases_expired",
            "Jobs whose lease ran out, requeued or made dead by this process.",
            ["queue", "type"],
            registry=r,
        )
        self.leases_lost = Counter(
            "jobq_leases_lost",
            "Claims this process found taken by another worker: a run stopped, a refused "
            "write, or a buffered job not started.",
            ["queue", "type"],
            registry=r,
        )
        self.pruned = Counter(
            "jobq_pruned",
            "Finished jobs deleted with their attempts once their retention had passed, by "
            "the state they finished in.",
            ["queue", "type", "status"],
            registry=r,
        )
        self.workers = Gauge("jobq_workers", "Workers in this process's pool.", registry=r)
        self.busy = Gauge("jobq_workers_busy", "Workers running a job now.", registry=r)
        self.buffered = Gauge(
            "jobq_buffer_jobs",
            "Claimed jobs waiting in this process for a free worker.",
            registry=r,
        )
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.depth = Gauge(
            "jobq_jobs",
            "Jobs in the store by queue and status, read at scrape time.",
            ["queue", "status"],
            registry=r,
        )
        self.waiting = Gauge(
            "jobq_jobs_waiting",
            "Due jobs waiting for a worker, by type, read at scrape time.",
            ["type"],
            registry=r,
        )
        self.unhandled = Gauge(
            "jobq_jobs_unhandled",
            "Due jobs that no live worker process claims (none has a handler for the type in "
            "the job's queue), by type, read at scrape time: alert when above 0.",
            ["type"],
            registry=r,
        )

    def job_enqueued(self, queue: str, job_type: str, count: int = 1) -> None:
        self.enqueued.labels(queue, job_type).inc(count)

    def job_started(self, queue: str, job_type: str, waited: float) -> None:
        self._child(self.wait_seconds, queue, job_type).observe(max(0.0, waited))

    def job_finished(self, queue: str, job_type: str, outcome: str, seconds: float) -> None:
        self._child(self.finished, queue, job_type, outcome).inc()
        if outcome == "lease_lost":
            self.leases_lost.labels(queue, job_type).inc()
        elif outcome == "failed":
            self.retried.labels(queue, job_type).inc()
        self._child(self.run_seconds, queue, job_type).observe(seconds)

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, remembered: every job asks for the same few, and the
        lookup (a lock, a tuple, a dict) was a visible share of a worker's time per job."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def watch_pool(
        self, workers: int, busy: Callable[[], float], buffered: Callable[[], float]
    ) -> None:
        self.workers.set(workers)
        self.busy.set_function(busy)
        self.buffered.set_function(buffered)

    def set_depth(self, counts: Iterable[QueueCount]) -> None:
        """Replace the depth gauge with the store's counts (every state, zeros included)."""
        table = counts_by_queue(counts) or {"default": {s.value: 0 for s in JobState}}
        self.depth.clear()
        for queue, row in table.items():
            for status, count in row.items():
                self.depth.labels(queue, status).set(count)

    def set_waiting(self, types: Iterable[tuple[str, int, int]]) -> None:
        """Replace the waiting gauges with (type, waiting, unhandled) for each type with due
        jobs."""
        self.waiting.clear()
        self.unhandled.clear()
        for job_type, waiting, unhandled in types:
            self.waiting.labels(job_type).set(waiting)
            self.unhandled.labels(job_type).set(unhandled)

    def render(self) -> bytes:
        return generate_latest(self.registry)
