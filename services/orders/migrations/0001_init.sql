-- Orders, their lines, and the Idempotency-Key records that make a retried POST
-- return the first answer instead of creating a second order.
CREATE TABLE orders (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    order_ref VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    status ENUM('confirmed', 'cancelled') NOT NULL,
    total_cents BIGINT NOT NULL,
    created_at DATETIME(3) NOT NULL,
    cancelled_at DATETIME(3) NULL,
    UNIQUE KEY uq_orders_ref (order_ref),
    KEY ix_orders_user (user_id, id)
) ENGINE=InnoDB;

CREATE TABLE order_items (
    order_id BIGINT NOT NULL,
    line_no SMALLINT NOT NULL,
    product_id BIGINT NOT NULL,
    quantity INT NOT NULL,
    unit_price_cents BIGINT NOT NULL,
    PRIMARY KEY (order_id, line_no)
) ENGINE=InnoDB;

-- A row is a claim while `response` is NULL (its owner is placing the order) and a
-- stored answer afterwards. `owner` tells claims apart when an expired one is taken over.
CREATE TABLE idempotency_keys (
    idem_key VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    fingerprint TEXT CHARACTER SET ascii NOT NULL,
    owner CHAR(32) CHARACTER SET ascii NOT NULL,
    order_id BIGINT NULL,
    response MEDIUMTEXT NULL,
    claimed_at DATETIME(3) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
