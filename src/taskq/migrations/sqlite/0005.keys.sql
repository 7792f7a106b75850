-- depends: 0004.workers
-- The API keys (taskq/keys.py, `taskq keys`): a row per key, written when it is made,
-- its last_used_at moved on (at most once a minute per process) when a request uses it,
-- deleted when it is revoked. The key itself is never stored: only its SHA-256 digest
-- (hex), which is what a request's key is looked up by.
CREATE TABLE keys (
    name         TEXT PRIMARY KEY,
    scope        TEXT NOT NULL CHECK (scope IN ('read', 'submit', 'admin')),
    digest       TEXT NOT NULL UNIQUE,
    created_at   REAL NOT NULL,
    last_used_at REAL
);
