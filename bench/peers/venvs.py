"""Each peer in a virtual environment of its own (``.bench-peers/<name>``), installed from PyPI
by the pinned requirements beside this file (``requirements-<name>.txt``); made again when that
file changes. jobq itself runs from this checkout's ``.venv``."""

from __future__ import annotations

import functools
import hashlib
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
HOME = ROOT / ".bench-peers"


def requirements(name: str) -> Path:
    return HERE / f"requirements-{name}.txt"


@functools.cache
def python_of(name: str) -> Path:
    """The peer's interpreter, its environment made or brought up to date first (once a
    run)."""
    wanted = requirements(name)
    venv = HOME / name
    python = venv / "bin" / "python"
    stamp = venv / ".requirements-sha256"
    digest = hashlib.sha256(wanted.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python
    print(f"installing {name} into {venv} (from {wanted.name})", file=sys.stderr, flush=True)
    made = subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=False)
    if made.returncode != 0:  # Debian without python3-venv: pip fetched from PyPI, as `make` does
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", "--without-pip", str(venv)], check=True
        )
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "bootstrap_pip.py"), str(python)], check=True
        )
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-r", str(wanted)],
        check=True,
    )  # fmt: skip
    stamp.write_text(digest)
    return python


def version_of(python: Path, distribution: str) -> str:
    found = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({distribution!r}))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return found.stdout.strip()
