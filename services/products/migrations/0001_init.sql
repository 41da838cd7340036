-- Catalogue and reservations. Reservation rows are never deleted: a released
-- order_ref stays released, so a late retry of a timed-out reservation cannot take
-- stock after its order gave up.
CREATE TABLE products (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    sku VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    name VARCHAR(200) NOT NULL,
    description TEXT NULL,
    price_cents BIGINT NOT NULL,
    stock BIGINT NOT NULL,
    created_at DATETIME(3) NOT NULL,
    UNIQUE KEY uq_products_sku (sku),
    CONSTRAINT ck_products_stock CHECK (stock >= 0),
    CONSTRAINT ck_products_price CHECK (price_cents > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE reservations (
    order_ref VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    -- The items as requested ("product:quantity,..."), to tell a replay from a reuse;
    -- NULL for a ref released before it was ever reserved.
    request TEXT CHARACTER SET ascii NULL,
    status ENUM('active', 'released') NOT NULL,
    created_at DATETIME(3) NOT NULL,
    released_at DATETIME(3) NULL
) ENGINE=InnoDB;

CREATE TABLE reservation_items (
    order_ref VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    line_no SMALLINT NOT NULL,
    product_id BIGINT NOT NULL,
    quantity INT NOT NULL,
    unit_price_cents BIGINT NOT NULL,
    PRIMARY KEY (order_ref, line_no)
) ENGINE=InnoDB;
