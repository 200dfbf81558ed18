"""API tokens in the store: only hashes are kept; revoking is final; both stores alike."""

from __future__ import annotations

from jobq.clock import FakeClock
from jobq.domain.tokens import Scope, hash_secret, new_token, split_token
from jobq.store import Store


async def test_a_token_is_stored_hashed_and_found_by_id(store: Store, clock: FakeClock) -> None:
    assert not await store.tokens.exist()
    token, text = new_token(Scope.ENQUEUE, "billing service", clock.now())
    await store.tokens.add(token)
    parts = split_token(text)
    assert parts is not None
    token_id, secret = parts
    found = await store.tokens.get(token_id)
    assert found == token
    assert found is not None and found.matches(secret) and not found.matches(secret[:-1] + "x")
    assert found.secret_hash == hash_secret(secret) and secret not in found.secret_hash
    assert await store.tokens.exist()
    assert await store.tokens.get("000000000000") is None


async def test_tokens_are_listed_newest_first_and_revoking_is_final(
    store: Store, clock: FakeClock
) -> None:
    first, _ = new_token(Scope.READ, "dashboard", clock.now())
    await store.tokens.add(first)
    clock.advance(1)
    second, _ = new_token(Scope.ADMIN, "ops", clock.now())
    await store.tokens.add(second)
    assert [t.id for t in await store.tokens.all()] == [second.id, first.id]

    clock.advance(1)
    assert await store.tokens.revoke(first.id)
    assert not await store.tokens.revoke(first.id)  # already revoked
    assert not await store.tokens.revoke("ffffffffffff")  # no such token
    revoked = await store.tokens.get(first.id)
    assert revoked is not None and not revoked.active and revoked.revoked_at == clock.now()
    assert await store.tokens.revoke(second.id)
    assert await store.tokens.exist()  # revoked tokens still count: the API stays locked
    assert len(await store.tokens.all()) == 2  # and stay listed
