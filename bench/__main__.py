"""``python -m bench`` (``make bench``): run the benchmarks, print the table, write
``bench/results.json``. So far: W0, the store's own ceiling (``bench/ceiling.py``)."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.ceiling import run_ceiling, table

RESULTS = Path(__file__).resolve().parent / "results.json"


def main() -> int:
    ceiling = asyncio.run(run_ceiling(progress=lambda text: print(text, file=sys.stderr)))
    print(table(ceiling))
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "W0": ceiling,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
