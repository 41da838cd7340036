//! Carts in Redis: one hash per cart, changed only by Lua scripts so that every
//! update is atomic without WATCH/retry loops.
//!
//! Layout: the key `{prefix}{cart_id}` is a hash holding `p:{product_id}` ->
//! quantity for each line, and `gen` -> the cart's generation, an opaque random
//! value that a successful checkout replaces when it empties the cart. The
//! checkout idempotency key combines the contents with the generation: a retried
//! checkout of the same contents reuses the key (so orders makes one order), and
//! buying the same contents again after a checkout gets a new key (a new order).
//!
//! Every write and every read sets the key's TTL to the idle time, so a cart
//! expires after that long without use.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};
use tokio::sync::OnceCell;

/// Hash field holding the cart's generation.
const GEN_FIELD: &str = "gen";
/// Prefix of the hash fields that hold lines.
const LINE_PREFIX: &str = "p:";

/// Sets or removes one line. Refuses a new line when the cart is full, so the
/// line limit holds even under concurrent writers.
///
/// KEYS[1] cart; ARGV: line field, quantity, max lines, TTL seconds, a fresh
/// generation used when the cart has none yet.
/// Returns -1 when the cart is full, else the hash after the change.
const SET_LINE: &str = r"
local key, field, qty = KEYS[1], ARGV[1], tonumber(ARGV[2])
if qty == 0 then
  redis.call('HDEL', key, field)
else
  if redis.call('HEXISTS', key, field) == 0 then
    local lines = redis.call('HLEN', key) - redis.call('HEXISTS', key, 'gen')
    if lines >= tonumber(ARGV[3]) then return -1 end
  end
  redis.call('HSET', key, field, ARGV[2])
  redis.call('HSETNX', key, 'gen', ARGV[5])
end
if redis.call('EXISTS', key) == 1 then redis.call('EXPIRE', key, ARGV[4]) end
return redis.call('HGETALL', key)
";

/// Empties the cart after its checkout made an order, but only if no other
/// checkout of this generation got there first, and only the lines that were
/// ordered with the quantity that was ordered: a line changed meanwhile stays.
///
/// KEYS[1] cart; ARGV: expected generation, new generation, TTL seconds, then
/// line field / quantity pairs. Returns 1 when it emptied, 0 otherwise.
const EMPTY_AFTER_CHECKOUT: &str = r"
local key = KEYS[1]
if (redis.call('HGET', key, 'gen') or '') ~= ARGV[1] then return 0 end
for i = 4, #ARGV, 2 do
  if redis.call('HGET', key, ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', key, ARGV[i])
  end
end
redis.call('HSET', key, 'gen', ARGV[2])
redis.call('EXPIRE', key, ARGV[3])
return 1
";

/// A failure to talk to Redis (the caller answers 503).
#[derive(Debug, thiserror::Error)]
#[error("redis is unavailable")]
pub struct StoreError(#[from] redis::RedisError);

/// One cart line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Line {
    /// The product's id.
    pub product_id: u64,
    /// How many, 1..=1000.
    pub quantity: u32,
}

/// A cart as read from Redis: lines sorted by product id, and the generation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cart {
    /// The lines, sorted by product id.
    pub lines: Vec<Line>,
    /// The generation; empty for a cart that never held a line.
    pub generation: String,
}

/// What [`Store::set_line`] did.
#[derive(Debug)]
pub enum SetLine {
    /// The line was set or removed; the cart after the change.
    Done(Cart),
    /// The line is new and the cart already holds the maximum number of lines.
    CartFull,
}

/// Settings of the cart store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Prefix of every key, so tests (or several stores) can share one database.
    pub key_prefix: String,
    /// Idle time after which a cart expires.
    pub idle_ttl: Duration,
    /// Maximum number of lines in a cart.
    pub max_lines: usize,
    /// Time allowed to connect and to answer one command.
    pub timeout: Duration,
}

/// The cart store. Cheap to share behind an `Arc`.
pub struct Store {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    config: StoreConfig,
    set_line: Script,
    empty_after_checkout: Script,
}

impl Store {
    /// A store for `client`. It connects on first use, so the service starts
    /// (and reports itself unready) while Redis is down.
    pub fn new(client: redis::Client, config: StoreConfig) -> Self {
        Self {
            client,
            conn: OnceCell::new(),
            config,
            set_line: Script::new(SET_LINE),
            empty_after_checkout: Script::new(EMPTY_AFTER_CHECKOUT),
        }
    }

    /// The store's settings.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The shared connection, established on first use. The manager reconnects
    /// by itself after Redis comes back.
    async fn conn(&self) -> Result<ConnectionManager, StoreError> {
        let conn = self
            .conn
            .get_or_try_init(|| {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.config.timeout))
                    .set_response_timeout(Some(self.config.timeout))
                    // Fail fast: a request waiting on a reconnect loop would hang
                    // instead of answering 503.
                    .set_number_of_retries(1);
                ConnectionManager::new_with_config(self.client.clone(), config)
            })
            .await?;
        Ok(conn.clone())
    }

    /// The Redis key of a cart.
    pub fn key_of(&self, cart_id: &str) -> String {
        format!("{}{cart_id}", self.config.key_prefix)
    }

    fn ttl_seconds(&self) -> u64 {
        self.config.idle_ttl.as_secs().max(1)
    }

    /// Answers whether Redis is reachable (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        redis::cmd("PING").query_async::<()>(&mut conn).await?;
        Ok(())
    }

    /// Reads a cart (an unknown cart is empty) and restarts its idle time.
    pub async fn get(&self, cart_id: &str) -> Result<Cart, StoreError> {
        let mut conn = self.conn().await?;
        let key = self.key_of(cart_id);
        let (hash, _): (Vec<(String, String)>, i64) = redis::pipe()
            .hgetall(&key)
            .expire(&key, self.ttl_seconds() as i64)
            .query_async(&mut conn)
            .await?;
        Ok(parse_cart(hash))
    }

    /// Sets a line's quantity; 0 removes the line.
    pub async fn set_line(
        &self,
        cart_id: &str,
        product_id: u64,
        quantity: u32,
    ) -> Result<SetLine, StoreError> {
        let mut conn = self.conn().await?;
        let value: Value = self
            .set_line
            .key(self.key_of(cart_id))
            .arg(line_field(product_id))
            .arg(quantity)
            .arg(self.config.max_lines)
            .arg(self.ttl_seconds())
            .arg(new_generation())
            .invoke_async(&mut conn)
            .await?;
        match value {
            Value::Int(-1) => Ok(SetLine::CartFull),
            other => {
                let hash: Vec<(String, String)> =
                    redis::from_redis_value(other).map_err(redis::RedisError::from)?;
                Ok(SetLine::Done(parse_cart(hash)))
            }
        }
    }

    /// Deletes a cart.
    pub async fn delete(&self, cart_id: &str) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        redis::cmd("DEL")
            .arg(self.key_of(cart_id))
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    /// Empties the lines of `ordered` (the cart as it was read for the checkout)
    /// and starts a new generation. Returns false when another checkout of the
    /// same generation already did.
    pub async fn empty_after_checkout(
        &self,
        cart_id: &str,
        ordered: &Cart,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let mut invocation = self.empty_after_checkout.key(self.key_of(cart_id));
        invocation
            .arg(&ordered.generation)
            .arg(new_generation())
            .arg(self.ttl_seconds());
        for line in &ordered.lines {
            invocation
                .arg(line_field(line.product_id))
                .arg(line.quantity);
        }
        let emptied: i64 = invocation.invoke_async(&mut conn).await?;
        Ok(emptied == 1)
    }

    /// The remaining time to live of a cart's key, for tests and diagnostics;
    /// `None` when the key does not exist or has no TTL.
    pub async fn ttl(&self, cart_id: &str) -> Result<Option<Duration>, StoreError> {
        let mut conn = self.conn().await?;
        let ms: i64 = redis::cmd("PTTL")
            .arg(self.key_of(cart_id))
            .query_async(&mut conn)
            .await?;
        Ok(u64::try_from(ms).ok().map(Duration::from_millis))
    }
}

fn line_field(product_id: u64) -> String {
    format!("{LINE_PREFIX}{product_id}")
}

/// A fresh random generation (128 bits). Random rather than a counter, because
/// a counter would restart when a cart expires, and the same contents under a
/// reused generation would replay an old order instead of making a new one.
fn new_generation() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// Lower-case hexadecimal of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Turns a cart hash into a [`Cart`]. Fields this version does not know are
/// skipped, so a newer writer cannot break an older reader.
fn parse_cart(hash: Vec<(String, String)>) -> Cart {
    let mut cart = Cart::default();
    for (field, value) in hash {
        if field == GEN_FIELD {
            cart.generation = value;
        } else if let Some(id) = field.strip_prefix(LINE_PREFIX) {
            if let (Ok(product_id), Ok(quantity)) = (id.parse(), value.parse()) {
                if quantity > 0 {
                    cart.lines.push(Line {
                        product_id,
                        quantity,
                    });
                }
            }
        }
    }
    cart.lines.sort_by_key(|line| line.product_id);
    cart
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_cart_sorts_lines_and_skips_unknown_fields() {
        let hash = vec![
            ("p:9".into(), "2".into()),
            ("gen".into(), "abc".into()),
            ("p:3".into(), "1".into()),
            ("p:x".into(), "1".into()),
            ("other".into(), "1".into()),
        ];
        let cart = parse_cart(hash);
        assert_eq!(cart.generation, "abc");
        assert_eq!(
            cart.lines,
            vec![
                Line {
                    product_id: 3,
                    quantity: 1
                },
                Line {
                    product_id: 9,
                    quantity: 2
                }
            ]
        );
    }

    #[test]
    fn generations_differ() {
        assert_ne!(new_generation(), new_generation());
        assert_eq!(new_generation().len(), 32);
    }
}
