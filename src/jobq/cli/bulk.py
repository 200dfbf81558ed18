"""``jobq enqueue --from-file``: one job per line (JSON, as ``POST /jobs`` takes it), stored in
batches; a line that cannot be a job is reported by number and reason, and the rest go in."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pydantic import ValidationError

from jobq.domain.errors import IdempotencyConflict, InvalidJob, UnknownJobType
from jobq.domain.job import NewJob
from jobq.jobqueue import JobQueue
from jobq.wire import JobIn, field_path

BATCH = 500


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    reason: str


@dataclass(slots=True)
class BulkReport:
    created: int = 0
    #: lines whose idempotency key named a job already: that job stands
    existing: int = 0
    rejected: list[Rejected] = field(default_factory=list)


def parse_line(jq: JobQueue, number: int, text: str) -> NewJob | Rejected:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return Rejected(number, f"not valid JSON: {exc}")
    try:
        body = JobIn.model_validate(data)
    except ValidationError as exc:
        problems = [f"{field_path(e['loc']) or 'job'}: {e['msg']}" for e in exc.errors()]
        return Rejected(number, "; ".join(problems))
    try:
        return jq.new_job(**body.new_job_options())
    except (InvalidJob, UnknownJobType) as exc:
        return Rejected(number, str(exc))


async def enqueue_lines(
    jq: JobQueue,
    lines: Iterable[str],
    *,
    batch_size: int = BATCH,
    on_line: Callable[[str], None] | None = None,
) -> BulkReport:
    """Enqueue every good line, ``batch_size`` jobs per transaction."""
    report = BulkReport()
    batch: list[tuple[int, NewJob]] = []
    for number, text in enumerate(lines, start=1):
        if on_line is not None:
            on_line(text)
        if not text.strip():
            continue
        await jq.catalog.refresh()  # the types live workers published: their schemas
        parsed = parse_line(jq, number, text)
        if isinstance(parsed, Rejected):
            report.rejected.append(parsed)
            continue
        batch.append((number, parsed))
        if len(batch) >= batch_size:
            await _flush(jq, batch, report)
            batch = []
    if batch:
        await _flush(jq, batch, report)
    report.rejected.sort(key=lambda rejected: rejected.line)
    return report


async def _flush(jq: JobQueue, batch: list[tuple[int, NewJob]], report: BulkReport) -> None:
    try:
        results = await jq.enqueue_many([job for _, job in batch])
    except (IdempotencyConflict, InvalidJob):
        # One line names a different job by its key, or cannot be stored, and the batch
        # rolled back: one by one, so only that line is refused.
        for number, job in batch:
            try:
                [result] = await jq.enqueue_many([job])
            except (IdempotencyConflict, InvalidJob) as exc:
                report.rejected.append(Rejected(number, str(exc)))
                continue
            _count(report, result.created)
        return
    for result in results:
        _count(report, result.created)


def _count(report: BulkReport, created: bool) -> None:
    if created:
        report.created += 1
    else:
        report.existing += 1
