"""Store contract, ``TypeCatalog``: what each worker process publishes about its job types is
listed while that process is live, replaced when it publishes again, and gone when it withdraws
or goes quiet; a process may publish before it first reports itself."""

from __future__ import annotations

from jobq.clock import FakeClock
from jobq.domain.ids import PoolId
from jobq.domain.published import TypeSpec
from jobq.store import Store
from tests.contract.support import OTHER, OWNER
from tests.contract.test_presence import process

EMAIL = {"type": "object", "properties": {"to": {"type": "string"}}, "required": ["to"]}


def spec(name: str, schema: dict[str, object] | None = None, digest: str | None = None) -> TypeSpec:
    return TypeSpec(
        name=name, spec={"payload_schema": schema, "max_attempts": 3}, payload_digest=digest
    )


async def listed(store: Store, max_age: float = 15) -> list[tuple[str, str, str | None]]:
    return [
        (p.type.name, p.process, p.type.payload_digest)
        for p in await store.type_catalog.published(max_age=max_age)
    ]


async def test_published_types_are_listed_while_their_process_is_live(
    store: Store, clock: FakeClock
) -> None:
    owner, other = PoolId(OWNER), PoolId(OTHER)
    # published before the process first reports itself: kept, listed once it does
    await store.type_catalog.publish(owner, [spec("email.send", EMAIL, "d1"), spec("echo")])
    assert await listed(store) == []
    await store.presence.report(process(clock))
    await store.type_catalog.publish(other, [spec("email.send", EMAIL, "d2")])
    await store.presence.report(process(clock, OTHER, pid=2))
    assert await listed(store) == [
        ("echo", owner, None),
        ("email.send", owner, "d1"),
        ("email.send", other, "d2"),
    ]
    [first, *_] = await store.type_catalog.published(max_age=15)
    assert first.type.spec == {"payload_schema": None, "max_attempts": 3}
    [email] = [
        p
        for p in await store.type_catalog.published(max_age=15)
        if p.process == owner and p.type.name == "email.send"
    ]
    assert email.type.payload_schema == EMAIL and email.published_at == clock.now()

    # publishing again replaces the process's types, not the other's
    await store.type_catalog.publish(owner, [spec("email.send", EMAIL, "d2")])
    assert await listed(store) == [("email.send", owner, "d2"), ("email.send", other, "d2")]

    # a process that goes quiet is no longer listed; one that withdraws is gone
    clock.advance(20)
    await store.presence.report(process(clock, OTHER, pid=2))
    assert await listed(store) == [("email.send", other, "d2")]
    await store.type_catalog.withdraw(other)
    assert await listed(store) == []


async def test_what_forgotten_processes_published_is_deleted_by_the_next_publish(
    store: Store, clock: FakeClock
) -> None:
    owner, other = PoolId(OWNER), PoolId(OTHER)
    await store.type_catalog.publish(other, [spec("old")])  # never reported, then silent
    clock.advance(3601)
    await store.presence.report(process(clock))
    await store.type_catalog.publish(owner, [spec("new")])
    await store.presence.report(process(clock, OTHER, pid=2))  # it comes back, too late
    assert await listed(store) == [("new", owner, None)]
