"""Where jobq's tables are: every statement names them qualified with the schema jobq migrated,
so they mean the same on a caller's own connection (transactional enqueue) whatever its
search_path; and the channel that wakes the pools of that schema."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import psycopg


@dataclass(frozen=True, slots=True)
class Tables:
    schema: str
    jobs: str
    attempts: str
    processes: str
    tokens: str
    ticks: str
    schedules: str
    retention: str
    counts: str
    pauses: str
    limits: str
    limit_starts: str
    job_types: str
    job_edges: str
    workflows: str
    #: the NOTIFY channel: ``jobq:<schema>`` (fleets in other schemas are not woken); the
    #: payload is the queue whose jobs may be due
    channel: str

    @classmethod
    def of(cls, schema: str) -> Tables:
        quoted = '"' + schema.replace('"', '""') + '"'
        return cls(
            schema=schema,
            jobs=f"{quoted}.jobs",
            attempts=f"{quoted}.attempts",
            processes=f"{quoted}.processes",
            tokens=f"{quoted}.api_tokens",
            ticks=f"{quoted}.schedule_ticks",
            schedules=f"{quoted}.schedules",
            retention=f"{quoted}.type_retention",
            counts=f"{quoted}.job_counts",
            pauses=f"{quoted}.queue_pauses",
            limits=f"{quoted}.limits",
            limit_starts=f"{quoted}.limit_starts",
            job_types=f"{quoted}.job_types",
            job_edges=f"{quoted}.job_edges",
            workflows=f"{quoted}.workflows",
            channel=channel_of(schema),
        )

    async def notify(self, conn: psycopg.AsyncConnection[Any], queues: set[str]) -> None:
        """Wake the pools that work ``queues`` (sent when ``conn``'s transaction commits)."""
        if queues:
            await conn.execute(
                "SELECT pg_notify(%(channel)s, q) FROM unnest(%(queues)s::text[]) AS q",
                {"channel": self.channel, "queues": sorted(queues)},
            )


def channel_of(schema: str) -> str:
    """The NOTIFY channel of the jobq tables in ``schema`` (at most 63 bytes, PostgreSQL's
    limit for a name)."""
    channel = f"jobq:{schema}"
    if len(channel.encode()) <= 63:
        return channel
    return f"jobq:{hashlib.sha256(schema.encode()).hexdigest()[:32]}"
