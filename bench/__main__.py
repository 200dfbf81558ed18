"""``python -m bench`` (``make bench``): run the benchmarks, print the table, write
``bench/results.json``.

    python -m bench                  # W0 and every workload, on SQLite and PostgreSQL
    python -m bench W1 W3            # only these (W0 always runs: it is the yardstick)
    python -m bench --stores sqlite  # one store
    python -m bench --repeats 1      # fewer rounds (the default is 3)

Every workload module (``bench/workloads.py`` lists them) has ``run(store) -> {figure: value}``
for one round, and says for each figure its unit, whether more is better, and which W0 figure
is its ceiling. Each figure is printed as the median of the rounds with the spread (lowest to
highest), and as a fraction of its ceiling where it has one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import harness
from bench.ceiling import run_ceiling
from bench.ceiling import table as ceiling_table
from bench.workloads import WORKLOADS, Workload

RESULTS = Path(__file__).resolve().parent / "results.json"
ROUND_TIMEOUT = 1800.0  # seconds: no round of any workload may run longer


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("workloads", nargs="*", metavar="W", help="W1..W13 (default: all)")
    parser.add_argument("--stores", default=",".join(harness.STORES), help="sqlite,postgres")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of each workload (3)")
    args = parser.parse_args(argv)
    known = {w.key for w in WORKLOADS}
    unknown = [w for w in args.workloads if w.upper() not in known]
    if unknown:
        parser.error(f"unknown workload {', '.join(unknown)}: choose from {', '.join(known)}")
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if not stores or any(s not in harness.STORES for s in stores):
        parser.error(f"--stores: a comma-separated list of {', '.join(harness.STORES)}")
    if args.repeats < 1:
        parser.error("--repeats: at least 1")
    args.stores = stores
    args.workloads = [w.upper() for w in args.workloads] or sorted(known)
    return args


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def _measure(
    workload: Workload, stores: list[str], repeats: int
) -> dict[str, dict[str, list[float]]]:
    rounds: dict[str, dict[str, list[float]]] = {}
    for store in stores:
        for n in range(repeats):
            _say(f"{workload.key} {workload.title}: {store}, round {n + 1} of {repeats}")
            figures = await asyncio.wait_for(workload.run(store), ROUND_TIMEOUT)
            for name, value in figures.items():
                rounds.setdefault(store, {}).setdefault(name, []).append(value)
    return rounds


def _fraction(value: float, ceiling: float | None, higher_is_better: bool) -> str:
    if not ceiling:
        return ""
    share = value / ceiling if higher_is_better else ceiling / value
    return f"{share:.0%}"


def _table(
    workload: Workload,
    measured: dict[str, dict[str, dict[str, float]]],
    ceiling: dict[str, dict[str, dict[str, float]]],
) -> str:
    lines = [
        f"{workload.key + ' ' + workload.title:<34}{'store':<10}{'median':>12}{'spread':>22}"
        f"{'unit':>9}{'of max':>8}"
    ]
    for store, figures in measured.items():
        for name, row in figures.items():
            figure = workload.figures[name]
            # a W0 figure, or another figure of this workload measured in the same rounds
            bound = ceiling.get(store, {}).get(figure.ceiling or "") or figures.get(
                figure.ceiling or "", {}
            )
            top = bound.get("median")
            d = figure.digits
            spread = f"{row['low']:,.{d}f}-{row['high']:,.{d}f}"
            lines.append(
                f"{name:<34}{store:<10}{row['median']:>12,.{d}f}{spread:>22}{figure.unit:>9}"
                f"{_fraction(row['median'], top, figure.higher_is_better):>8}"
            )
    return "\n".join(lines)


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    ceiling = await run_ceiling(args.repeats, stores=args.stores, progress=_say)
    print(ceiling_table(ceiling), flush=True)
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "repeats": args.repeats,
        "W0": ceiling,
    }
    for workload in WORKLOADS:
        if workload.key not in args.workloads:
            continue
        rounds = await _measure(workload, args.stores, args.repeats)
        measured = {
            store: {
                name: harness.summary(values, workload.figures[name].digits)
                for name, values in figures.items()
            }
            for store, figures in rounds.items()
        }
        print("\n" + _table(workload, measured, ceiling), flush=True)
        report[workload.key] = measured
    return report


def main(argv: list[str] | None = None) -> int:
    from jobq.logs import configure_logging

    args = _arguments(sys.argv[1:] if argv is None else argv)
    configure_logging("WARNING", "console", stream=sys.stderr)
    report = asyncio.run(_main(args))
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    _say(f"written: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
