"""API tokens on SQLite (only the hash of each secret is stored)."""

from __future__ import annotations

import sqlite3

from jobq.domain.tokens import ApiToken
from jobq.store.common import TOKEN_COLUMNS
from jobq.store.sqlite.database import Database
from jobq.store.sqlite.rows import READ, to_us


class SQLiteTokens:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, token: ApiToken) -> None:
        row = (token.id, token.name, token.scope.value, token.secret_hash, to_us(token.created_at))
        await self._db.writer.write(
            lambda conn: conn.execute(
                "INSERT INTO api_tokens (id, name, scope, secret_hash, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                row,
            )
        )

    async def all(self) -> list[ApiToken]:
        def run(conn: sqlite3.Connection) -> list[ApiToken]:
            rows = conn.execute(f"SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at DESC")
            return [READ.token(row) for row in rows]

        return await self._db.reader.read(run)

    async def get(self, token_id: str) -> ApiToken | None:
        def run(conn: sqlite3.Connection) -> ApiToken | None:
            row = conn.execute(
                f"SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ?", (token_id,)
            ).fetchone()
            return None if row is None else READ.token(row)

        return await self._db.reader.read(run)

    async def revoke(self, token_id: str) -> bool:
        now = self._db.now()

        def run(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (now, token_id),
            )
            return cursor.rowcount == 1

        return await self._db.writer.write(run)

    async def exist(self) -> bool:
        return await self._db.reader.read(
            lambda conn: conn.execute("SELECT EXISTS (SELECT 1 FROM api_tokens)").fetchone()[0] == 1
        )
