-- Keys expire after IDEMPOTENCY_KEY_TTL: the sweep that deletes them looks for old
-- claims by `claimed_at`, which without an index would read the whole table.
CREATE INDEX ix_idempotency_keys_claimed_at ON idempotency_keys (claimed_at);
