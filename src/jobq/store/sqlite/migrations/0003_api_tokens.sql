-- jobq schema 3: API tokens. Only a hash of each token's secret is kept.

CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,      -- public part of the token: jobq_<id>_<secret>
    name        TEXT NOT NULL,
    scope       TEXT NOT NULL CHECK (scope IN ('read', 'enqueue', 'admin')),
    secret_hash TEXT NOT NULL,         -- hex SHA-256 of the secret
    created_at  INTEGER NOT NULL,      -- µs since the epoch, UTC
    revoked_at  INTEGER
) STRICT;
