"""The workloads ``python -m bench`` runs, in order. Each is a module with ``FIGURES`` (name ->
``harness.Figure``) and ``async def run(store) -> {name: value}``, one round on one store."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType

from bench.harness import Figure


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    module: str

    def _load(self) -> ModuleType:
        return importlib.import_module(self.module)

    @property
    def figures(self) -> dict[str, Figure]:
        figures: dict[str, Figure] = self._load().FIGURES
        return figures

    def run(self, store: str) -> Awaitable[dict[str, float]]:
        run: Callable[[str], Awaitable[dict[str, float]]] = self._load().run
        return run(store)


WORKLOADS = (
    Workload("W1", "throughput", "bench.throughput"),
    Workload("W2", "concurrency", "bench.concurrency"),
    Workload("W3", "latency", "bench.latency"),
    Workload("W4", "backlog and memory (W4, W5)", "bench.backlog"),
    Workload("W6", "HTTP", "bench.http_load"),
    Workload("W7", "steady state under retention", "bench.steady"),
    Workload("W8", "reads at 5,000,000 finished jobs", "bench.history"),
    Workload("W9", "start-up", "bench.startup"),
    Workload("W10", "drain past a paused queue's backlog", "bench.paused"),
    Workload(
        "W11", "limits: their cost to the work they do not limit, and their own", "bench.limits"
    ),
    Workload("W12", "typed jobs: checking payloads at submit", "bench.typed"),
    Workload("W13", "workflows: submitting 10,000 edges, releasing a fan-in", "bench.workflows"),
)
