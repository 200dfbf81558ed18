"""Every event name jobq logs is in the table of docs/configuration.md, so operators can look
up any line they see (and a new event cannot ship undocumented)."""

from __future__ import annotations

import re

from tests.helpers import REPO, documented_events

LOG_CALL = re.compile(
    r"\b(?:log|logger|self\._log|ctx\.log)\s*\.\s*(?:debug|info|warning|error|exception)"
    r"\(\s*\"([a-z_]+)\""
)


def emitted_events() -> set[str]:
    found: set[str] = set()
    for path in (REPO / "src" / "jobq").rglob("*.py"):
        found.update(LOG_CALL.findall(path.read_text()))
    return found


def test_every_event_jobq_logs_is_documented() -> None:
    emitted = emitted_events()
    assert len(emitted) > 30  # the pattern finds the calls
    assert emitted - documented_events() == set()


#: named where the call is made, not in it: `_serve(..., "http_listening")`; LIBRARY_EVENT
INDIRECT = {"http_listening", "metrics_listening", "library_log"}


def test_the_documented_events_are_still_logged() -> None:
    stale = documented_events() - emitted_events() - INDIRECT
    assert stale == set(), f"documented but never logged: {stale}"
    source = "".join(p.read_text() for p in (REPO / "src" / "jobq").rglob("*.py"))
    assert all(f'"{name}"' in source for name in INDIRECT)
