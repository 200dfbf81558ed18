"""The ``jobq`` command's exit statuses (see ``jobq.cli``): a module of their own, so the
command group can use them without importing what the commands need."""

from __future__ import annotations

EXIT_FAILURE, EXIT_USAGE = 1, 2
#: ``jobq enqueue --wait --wait-timeout``: the wait ran out, the job is still pending or running
EXIT_WAIT_TIMEOUT = 3
