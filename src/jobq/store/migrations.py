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
