"""Numbered migration scripts, as each store ships them: ``<package>/migrations/NNNN_name.sql``."""

from __future__ import annotations

import re
from importlib import resources

from jobq.domain.errors import StoreError

_NAME = re.compile(r"^(\d{4})_\w+\.sql$")


def load_migrations(package: str) -> list[tuple[int, str]]:
    """(version, SQL) for every migration under ``package``, in order; versions run 1..n."""
    found = []
    for entry in resources.files(package).joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    found.sort()
    if [v for v, _ in found] != list(range(1, len(found) + 1)):
        raise StoreError(f"migration files are not numbered 1..n: {[v for v, _ in found]}")
    return found


def not_current(current: int, latest: int, what: str) -> None:
    """For a store opened without migrating (a command that only reads): ``StoreError`` unless
    the schema of ``what`` is at this jobq's version ``latest``, saying what to do."""
    if current == 0:
        raise StoreError(
            f"{what} holds no jobq tables: `jobq migrate` (or starting the service) creates them"
        )
    if current < latest:
        raise StoreError(
            f"{what} is at schema version {current}, and this jobq reads version {latest}: "
            "run `jobq migrate`"
        )
    if current > latest:
        raise StoreError(
            f"{what} is at schema version {current}, newer than this jobq knows ({latest}): "
            "upgrade jobq"
        )
