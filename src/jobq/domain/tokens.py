"""API tokens: what a token may do (its scope), how it is written, and how it is checked.

A token reads ``jobq_<id>_<secret>``. The id is public (``jobq tokens list`` shows it); the
secret is 32 random bytes, shown once when the token is created. The store keeps only the
SHA-256 of the secret (the secret is random, so a slow hash would add nothing); a presented
secret is compared with it in constant time.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

PREFIX = "jobq_"
_TOKEN = re.compile(r"^jobq_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
MAX_TOKEN_NAME = 200


class Scope(enum.Enum):
    """Each scope may do what the one before it may, and more."""

    READ = "read"  # see jobs, stats, metrics and the dashboard
    ENQUEUE = "enqueue"  # and submit jobs
    ADMIN = "admin"  # and cancel, retry, retry dead jobs

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Scope) -> bool:
        return self.rank >= needed.rank


_RANKS = {Scope.READ: 0, Scope.ENQUEUE: 1, Scope.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: str
    name: str
    scope: Scope
    secret_hash: str  # hex SHA-256 of the secret
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def matches(self, secret: str) -> bool:
        """Whether ``secret`` is this token's, in time that does not depend on where it differs."""
        return hmac.compare_digest(hash_secret(secret), self.secret_hash)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token(scope: Scope, name: str, now: datetime) -> tuple[ApiToken, str]:
    """A new token and its text, the only copy of the secret."""
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = ApiToken(token_id, name, scope, hash_secret(secret), now)
    return token, f"{PREFIX}{token_id}_{secret}"


def split_token(text: str) -> tuple[str, str] | None:
    """``jobq_<id>_<secret>`` -> (id, secret); None if it is not written like a token."""
    found = _TOKEN.match(text.strip())
    return None if found is None else (found.group(1), found.group(2))
