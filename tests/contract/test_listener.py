"""Store contract, ``Listener``: a pool hears when another connection (another process, in
production) commits jobs that may be due, without waiting for its next poll."""

from __future__ import annotations

import asyncio
import contextlib

from jobq.clock import FakeClock
from jobq.store import PostgresOptions, Store, open_store
from tests.contract.support import new

#: enqueues tried at most before the test gives up (the listener may still be starting)
TRIES = 50


async def test_an_enqueue_elsewhere_wakes_the_listener(
    store: Store, store_url: str, clock: FakeClock
) -> None:
    heard: asyncio.Queue[str | None] = asyncio.Queue()
    listening = asyncio.create_task(store.listener.listen(heard.put_nowait))
    other = await open_store(store_url, clock=clock, postgres=PostgresOptions(pool_size=2))
    try:
        on_postgres = store_url.startswith("postgresql")
        woken: list[str | None] = []
        for _ in range(TRIES):  # until the listener is up and hears one
            await other.enqueuer.enqueue([new(queue="mail")])
            with contextlib.suppress(TimeoutError):
                woken.append(await asyncio.wait_for(heard.get(), 0.2))
                while not heard.empty():
                    woken.append(heard.get_nowait())
            if "mail" in woken or (woken and not on_postgres):
                break
        # PostgreSQL names the queue (NOTIFY's payload); SQLite only knows that something
        # was committed (None: any queue may have due jobs)
        assert ("mail" in woken) if on_postgres else (None in woken)
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        await other.close()


async def test_the_listener_stops_when_cancelled(store: Store) -> None:
    listening = asyncio.create_task(store.listener.listen(lambda queue: None))
    await asyncio.sleep(0)  # it starts
    listening.cancel()
    assert (await asyncio.gather(listening, return_exceptions=True))[0].__class__ is (
        asyncio.CancelledError
    )
