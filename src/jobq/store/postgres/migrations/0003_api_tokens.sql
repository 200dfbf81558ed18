-- jobq schema 3: API tokens. Only a hash of each token's secret is kept. Additive: processes
-- of schema 2 keep running against it (they do not check tokens).

CREATE TABLE api_tokens (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    scope       text NOT NULL CHECK (scope IN ('read', 'enqueue', 'admin')),
    secret_hash text NOT NULL,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
