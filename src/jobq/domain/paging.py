"""How many jobs a listing gives at once, the same for ``GET /jobs`` and ``jobq jobs list``."""

from __future__ import annotations

#: jobs per page unless asked for another number
DEFAULT_PAGE = 50
#: jobs per page at most (the API's ``JOBQ_MAX_PAGE_SIZE`` default)
MAX_PAGE = 500
