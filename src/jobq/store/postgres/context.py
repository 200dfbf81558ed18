"""What the PostgreSQL store's parts share: the connection pool, the tables' names, the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jobq.clock import Clock
from jobq.store.postgres.connection import Database
from jobq.store.postgres.tables import Tables


@dataclass(frozen=True, slots=True)
class Context:
    db: Database
    tables: Tables
    #: None: statements read the database server's clock (``sql.NOW``)
    clock: Clock | None

    def now(self) -> datetime | None:
        return None if self.clock is None else self.clock.now()
