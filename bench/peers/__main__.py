"""``python -m bench.peers`` (``make bench-peers``): jobq side by side with the queues users
would pick instead, on the same machine, store and workloads, in one run: PgQueuer on
PostgreSQL, Huey on SQLite. Each peer is installed from PyPI into an environment of its own
(``venvs.py``) at the version pinned in ``requirements-<peer>.txt``.

    python -m bench.peers                    # every workload, both stores, 3 rounds
    python -m bench.peers --stores postgres  # one store
    python -m bench.peers drain latency      # some workloads
    python -m bench.peers --rounds 1

Rounds alternate between jobq and its peer, and so does who goes first. Each figure is the
median of the rounds (with the lowest and highest), and "lead" is jobq's ratio to the peer,
above 1 where jobq is better (its figure over the peer's where more is better, the peer's over
jobq's where less is).
Never part of ``make test``. Results: ``bench/peers-results.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.peers import workloads
from bench.peers.contenders import PAIRS, Contender, fresh_target

RESULTS = Path(__file__).resolve().parent.parent / "peers-results.json"
NAMES = {w.__name__: w for w in workloads.WORKLOADS}


def _arguments(argv: list[str]) -> argparse.Namespace:
    first_line = __doc__.split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=first_line)
    parser.add_argument("workloads", nargs="*", help=f"some of {', '.join(NAMES)} (default: all)")
    parser.add_argument("--stores", default="postgres,sqlite", help="postgres,sqlite")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each workload (3)")
    args = parser.parse_args(argv)
    unknown = [w for w in args.workloads if w not in NAMES]
    if unknown:
        parser.error(f"unknown workload {', '.join(unknown)}: choose from {', '.join(NAMES)}")
    args.stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if not args.stores or any(s not in PAIRS for s in args.stores):
        parser.error("--stores: a comma-separated list of postgres, sqlite")
    if args.rounds < 1:
        parser.error("--rounds: at least 1")
    args.workloads = args.workloads or list(NAMES)
    return args


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def _measure(store: str, names: list[str], rounds: int) -> dict[str, dict[str, list[float]]]:
    """{contender: {figure: [one value per round]}}"""
    found: dict[str, dict[str, list[float]]] = {}
    for name in names:
        for n in range(rounds):
            pair = PAIRS[store]
            for contender in pair if n % 2 == 0 else reversed(pair):  # who goes first alternates
                _say(f"{store}: {name}, {contender.name}, round {n + 1} of {rounds}")
                async with fresh_target(store) as target:
                    figures = await asyncio.to_thread(NAMES[name], contender, target)
                for key, value in figures.items():
                    found.setdefault(contender.name, {}).setdefault(key, []).append(value)
    return found


def _shown(values: list[float]) -> str:
    middle = statistics.median(values)
    digits = 0 if middle >= 100 else 2 if middle >= 1 else 3
    text = f"{middle:,.{digits}f}"
    if len(values) > 1:
        text += f" ({min(values):,.{digits}f}-{max(values):,.{digits}f})"
    return text


def _table(store: str, pair: tuple[Contender, Contender], found: dict[str, Any]) -> list[str]:
    ours, theirs = pair
    lines = [
        f"\n{store}: {ours.name} {ours.version()} vs {theirs.name} {theirs.version()}",
        f"  {theirs.name}: {theirs.settings}; {ours.name}: {ours.settings}",
        f"| figure | unit | {ours.name} | {theirs.name} | lead |",
        "|---|---|---|---|---|",
    ]
    for figure in workloads.FIGURES:
        a = found.get(ours.name, {}).get(figure.key)
        b = found.get(theirs.name, {}).get(figure.key)
        if not a or not b:
            continue
        x, y = statistics.median(a), statistics.median(b)
        lead = (x / y if figure.higher_is_better else y / x) if x and y else float("nan")
        lines.append(
            f"| {figure.title} | {figure.unit} | {_shown(a)} | {_shown(b)} | {lead:.2f}x |"
        )
    return lines


async def main(argv: list[str]) -> int:
    args = _arguments(argv)
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        "rounds": args.rounds,
        "stores": {},
    }
    lines: list[str] = []
    for store in args.stores:
        found = await _measure(store, args.workloads, args.rounds)
        pair = PAIRS[store]
        report["stores"][store] = {
            c.name: {
                "version": c.version(),
                "settings": c.settings,
                "figures": found.get(c.name, {}),
            }
            for c in pair
        }
        lines += _table(store, pair, found)
    print("\n".join(lines))
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    _say(f"\nwritten: {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))
