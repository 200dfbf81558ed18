"""API tokens on PostgreSQL (only the hash of each secret is stored)."""

from __future__ import annotations

from jobq.domain.tokens import ApiToken
from jobq.store.common import TOKEN_COLUMNS
from jobq.store.postgres.context import Context
from jobq.store.postgres.rows import READ
from jobq.store.postgres.sql import NOW


class PostgresTokens:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        tokens = ctx.tables.tokens
        self._add = f"""
            INSERT INTO {tokens} (id, name, scope, secret_hash, created_at)
            VALUES (%(id)s, %(name)s, %(scope)s, %(secret_hash)s, %(created_at)s)"""
        self._all = f"SELECT {TOKEN_COLUMNS} FROM {tokens} ORDER BY created_at DESC"
        self._get = f"SELECT {TOKEN_COLUMNS} FROM {tokens} WHERE id = %(id)s"
        self._revoke = f"""
            UPDATE {tokens} SET revoked_at = {NOW} WHERE id = %(id)s AND revoked_at IS NULL"""
        self._exist = f"SELECT EXISTS (SELECT 1 FROM {tokens})"

    async def add(self, token: ApiToken) -> None:
        params = {
            "id": token.id,
            "name": token.name,
            "scope": token.scope.value,
            "secret_hash": token.secret_hash,
            "created_at": token.created_at,
        }
        await self._ctx.db.changed(self._add, params)

    async def all(self) -> list[ApiToken]:
        return [READ.token(row) for row in await self._ctx.db.fetch(self._all, {})]

    async def get(self, token_id: str) -> ApiToken | None:
        rows = await self._ctx.db.fetch(self._get, {"id": token_id})
        return READ.token(rows[0]) if rows else None

    async def revoke(self, token_id: str) -> bool:
        return await self._ctx.db.changed(self._revoke, {"id": token_id, "now": self._ctx.now()})

    async def exist(self) -> bool:
        [(found,)] = await self._ctx.db.fetch(self._exist, {})
        return bool(found)
