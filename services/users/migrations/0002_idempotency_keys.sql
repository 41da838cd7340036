-- Idempotency-Key claims of POST /v1/users (see kubestore_common::idempotency::mysql):
-- a repeat of a keyed creation answers the first 201 instead of 409 email_taken.
CREATE TABLE idempotency_keys (
    idem_key VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    fingerprint TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    owner CHAR(32) CHARACTER SET ascii NOT NULL,
    user_id BIGINT NULL,
    response MEDIUMTEXT NULL,
    claimed_at DATETIME(3) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
