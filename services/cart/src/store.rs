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
//!
//! A checkout that carries the caller's `Idempotency-Key` keeps a record at
//! `{prefix}checkout:{key}`, a hash with `state` (`pending` while its owner
//! works, `done` after), `request` (cart id and user id), and once done the
//! ordered `lines` and the `response`. Cart ids cannot contain `:`, so records
//! never collide with carts. A pending record lapses after the lease (its owner
//! died); a done one after the key TTL.

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
/// With a second key (the caller's `Idempotency-Key` record) it stores the
/// answer in the same step, so no retry can ever find the cart emptied without
/// the answer that explains it.
///
/// KEYS[1] cart, KEYS[2] (optional) key record; ARGV: expected generation, new
/// generation, cart TTL seconds, record TTL seconds, record request, record
/// lines, record response, then line field / quantity pairs.
/// Returns 1 when it emptied, 0 otherwise.
const FINISH_CHECKOUT: &str = r"
local key = KEYS[1]
local emptied = 0
if (redis.call('HGET', key, 'gen') or '') == ARGV[1] then
  for i = 8, #ARGV, 2 do
    if redis.call('HGET', key, ARGV[i]) == ARGV[i + 1] then
      redis.call('HDEL', key, ARGV[i])
    end
  end
  redis.call('HSET', key, 'gen', ARGV[2])
  redis.call('EXPIRE', key, ARGV[3])
  emptied = 1
end
local rec = KEYS[2]
if rec and redis.call('HGET', rec, 'state') ~= 'done' then
  redis.call('DEL', rec)
  redis.call('HSET', rec, 'state', 'done', 'request', ARGV[5], 'lines', ARGV[6], 'response', ARGV[7])
  redis.call('EXPIRE', rec, ARGV[4])
end
return emptied
";

/// Claims an `Idempotency-Key` for one checkout, or says who has it.
///
/// KEYS[1] key record; ARGV: owner token, request, lease milliseconds.
/// Returns `{'owned'}` (claimed; the claim lapses after the lease), `{'reused'}`
/// (the key belongs to another request), `{'pending'}` (its owner is still at
/// work) or `{'done', lines, response}`.
const CLAIM_KEY: &str = r"
local rec = KEYS[1]
local state = redis.call('HGET', rec, 'state')
if not state then
  redis.call('DEL', rec)
  redis.call('HSET', rec, 'state', 'pending', 'owner', ARGV[1], 'request', ARGV[2])
  redis.call('PEXPIRE', rec, ARGV[3])
  return {'owned'}
end
if redis.call('HGET', rec, 'request') ~= ARGV[2] then return {'reused'} end
if state ~= 'done' then return {'pending'} end
return {'done', redis.call('HGET', rec, 'lines') or '', redis.call('HGET', rec, 'response') or ''}
";

/// Gives up a claim that did not succeed, so the key is free for a retry.
///
/// KEYS[1] key record; ARGV: owner token.
const RELEASE_KEY: &str = r"
if redis.call('HGET', KEYS[1], 'state') == 'pending'
   and redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 0
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

/// What [`Store::claim_key`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClaim {
    /// The key was free: this request owns it, proven by the token.
    Owned(String),
    /// The key belongs to a checkout of another cart or for another user.
    Reused,
    /// The key's first checkout is still running.
    Pending,
    /// The key's checkout succeeded: what it ordered ([`lines_text`]) and its
    /// answer.
    Done {
        /// The ordered lines.
        lines: String,
        /// The 201 body.
        response: String,
    },
}

/// The answer to store with a keyed checkout.
#[derive(Debug, Clone, Copy)]
pub struct KeyRecord<'a> {
    /// The caller's `Idempotency-Key`.
    pub key: &'a str,
    /// The request the key is bound to ([`request_text`]).
    pub request: &'a str,
    /// The 201 body.
    pub response: &'a str,
}

/// How long `Idempotency-Key` records live.
#[derive(Debug, Clone, Copy)]
pub struct KeySettings {
    /// How long a successful checkout's answer is kept for replays.
    pub ttl: Duration,
    /// How long a claim holds without an answer before it counts as abandoned.
    pub lease: Duration,
    /// How long a repeat waits for the first request before 409
    /// `request_in_progress`.
    pub wait: Duration,
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
    /// `Idempotency-Key` records.
    pub keys: KeySettings,
}

/// How every connection to Redis behaves: `timeout` to connect and per command.
fn manager_config(timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        // Fail fast: a request waiting on a reconnect loop would hang instead of
        // answering 503.
        .set_number_of_retries(1)
}

/// Whether the Redis at `client` answers within `timeout`, on a connection of its
/// own: what `migrate` checks.
pub async fn check(client: redis::Client, timeout: Duration) -> Result<(), StoreError> {
    let mut conn = ConnectionManager::new_with_config(client, manager_config(timeout)).await?;
    redis::cmd("PING").query_async::<()>(&mut conn).await?;
    Ok(())
}

/// The cart store. Cheap to share behind an `Arc`.
pub struct Store {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    config: StoreConfig,
    set_line: Script,
    finish_checkout: Script,
    claim_key: Script,
    release_key: Script,
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
            finish_checkout: Script::new(FINISH_CHECKOUT),
            claim_key: Script::new(CLAIM_KEY),
            release_key: Script::new(RELEASE_KEY),
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
                ConnectionManager::new_with_config(
                    self.client.clone(),
                    manager_config(self.config.timeout),
                )
            })
            .await?;
        Ok(conn.clone())
    }

    /// The Redis key of a cart.
    pub fn key_of(&self, cart_id: &str) -> String {
        format!("{}{cart_id}", self.config.key_prefix)
    }

    /// The Redis key of an `Idempotency-Key` record.
    pub fn record_of(&self, idempotency_key: &str) -> String {
        format!("{}checkout:{idempotency_key}", self.config.key_prefix)
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
    /// and starts a new generation; with `record`, stores the checkout's answer
    /// under its key in the same atomic step. Returns false when another
    /// checkout of the same generation already emptied the cart.
    pub async fn finish_checkout(
        &self,
        cart_id: &str,
        ordered: &Cart,
        record: Option<KeyRecord<'_>>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let mut invocation = self.finish_checkout.key(self.key_of(cart_id));
        let (request, response) = match record {
            Some(record) => {
                invocation.key(self.record_of(record.key));
                (record.request, record.response)
            }
            None => ("", ""),
        };
        invocation
            .arg(&ordered.generation)
            .arg(new_generation())
            .arg(self.ttl_seconds())
            .arg(self.config.keys.ttl.as_secs().max(1))
            .arg(request)
            .arg(lines_text(&ordered.lines))
            .arg(response);
        for line in &ordered.lines {
            invocation
                .arg(line_field(line.product_id))
                .arg(line.quantity);
        }
        let emptied: i64 = invocation.invoke_async(&mut conn).await?;
        Ok(emptied == 1)
    }

    /// Claims `idempotency_key` for `request` ([`request_text`]), or reports
    /// who holds it.
    pub async fn claim_key(
        &self,
        idempotency_key: &str,
        request: &str,
    ) -> Result<KeyClaim, StoreError> {
        let mut conn = self.conn().await?;
        let token = new_generation();
        let lease_ms = u64::try_from(self.config.keys.lease.as_millis()).unwrap_or(u64::MAX);
        let answer: Vec<String> = self
            .claim_key
            .key(self.record_of(idempotency_key))
            .arg(&token)
            .arg(request)
            .arg(lease_ms.max(1))
            .invoke_async(&mut conn)
            .await?;
        let mut parts = answer.into_iter();
        Ok(
            match (parts.next().as_deref(), parts.next(), parts.next()) {
                (Some("owned"), _, _) => KeyClaim::Owned(token),
                (Some("reused"), _, _) => KeyClaim::Reused,
                (Some("done"), Some(lines), Some(response)) => KeyClaim::Done { lines, response },
                _ => KeyClaim::Pending,
            },
        )
    }

    /// Frees a claim whose checkout failed, if `token` still owns it.
    pub async fn release_key(&self, idempotency_key: &str, token: &str) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        self.release_key
            .key(self.record_of(idempotency_key))
            .arg(token)
            .invoke_async::<i64>(&mut conn)
            .await?;
        Ok(())
    }

    /// The remaining time to live of an `Idempotency-Key` record, for tests and
    /// diagnostics; `None` when there is none.
    pub async fn key_ttl(&self, idempotency_key: &str) -> Result<Option<Duration>, StoreError> {
        self.pttl(&self.record_of(idempotency_key)).await
    }

    /// The remaining time to live of a cart's key, for tests and diagnostics;
    /// `None` when the key does not exist or has no TTL.
    pub async fn ttl(&self, cart_id: &str) -> Result<Option<Duration>, StoreError> {
        self.pttl(&self.key_of(cart_id)).await
    }

    async fn pttl(&self, redis_key: &str) -> Result<Option<Duration>, StoreError> {
        let mut conn = self.conn().await?;
        let ms: i64 = redis::cmd("PTTL")
            .arg(redis_key)
            .query_async(&mut conn)
            .await?;
        Ok(u64::try_from(ms).ok().map(Duration::from_millis))
    }
}

/// Lines in the canonical text a key record keeps: `1x2,3x4`, in product order.
pub fn lines_text(lines: &[Line]) -> String {
    let parts: Vec<String> = lines
        .iter()
        .map(|l| format!("{}x{}", l.product_id, l.quantity))
        .collect();
    parts.join(",")
}

/// The request a key is bound to: the cart and the buyer. Newline-separated;
/// neither part can contain one.
pub fn request_text(cart_id: &str, user_id: i64) -> String {
    format!("{cart_id}\n{user_id}")
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
