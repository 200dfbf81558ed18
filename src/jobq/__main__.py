"""``python -m jobq``: the same as the ``jobq`` command."""

from __future__ import annotations

from jobq.cli import main

main()
