"""Strings that are not Unicode (a lone surrogate such as ``"\\ud800"``: a valid JSON escape that
UTF-8 cannot encode), on both stores: refused where a client sends them, never a 500 or a
crash where a handler makes them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from jobq.jobqueue import JobQueue
from tests.helpers import live_server
from tests.jobs import stored

JSON = {"content-type": "application/json"}


@pytest.fixture
async def api(jq: JobQueue) -> AsyncIterator[httpx.AsyncClient]:
    async with live_server(jq) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield client


@pytest.mark.xfail(strict=True, reason="issue 13: a lone surrogate in a payload answers 500")
async def test_a_lone_surrogate_in_a_payload_is_not_a_500(
    api: httpx.AsyncClient, jq: JobQueue
) -> None:
    # the body as a client sends it: the escape, not the character (which no UTF-8 body holds)
    response = await api.post(
        "/jobs", content=b'{"type": "echo", "payload": {"a": "\\ud800"}}', headers=JSON
    )
    assert response.status_code == 400, response.text
    assert await stored(jq) == 0
