//! Idempotency keys stored in a MySQL service's own `idempotency_keys` table
//! (`idem_key`, `fingerprint`, `owner`, `response`, `claimed_at`, and a column
//! for the id of what the request made).
//!
//! The first request with a key inserts the key's row in a transaction that stays
//! open while the work is done, and that stores the answer and the work in the
//! same commit. A twin arriving meanwhile blocks on that row's lock inside MariaDB:
//! when the owner commits, the twin finds the stored answer and replays it; when the
//! owner fails (or its process dies), the transaction rolls back, the key is free
//! again and the twin runs the request itself. Only successful answers are ever
//! committed, and a key costs no extra commit. A twin that cannot get the lock in
//! time answers 409 `request_in_progress`.
//!
//! A committed row without an answer cannot be written by this code; should one
//! exist, it is taken over once older than [`Settings::lease`].
//!
//! Rows are kept for a [`Retention`] time to live (`IDEMPOTENCY_KEY_TTL`), after which
//! [`sweep`] deletes them, so the table holds about one TTL's worth of keys instead
//! of every key ever sent; a repeat after that runs the request again.

use chrono::{NaiveDateTime, TimeDelta};
use sqlx::{AssertSqlSafe, MySql, MySqlPool, Transaction};
use std::time::Duration;

use super::{in_progress, reused};
use crate::AppError;
use crate::db::{ER_LOCK_WAIT_TIMEOUT, error_number, is_unique_violation};

/// Pause between two looks at a claim held by another request.
const POLL: Duration = Duration::from_millis(20);

/// Timing of claims.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long a twin waits for the owner before answering 409 `request_in_progress`
    /// (whole seconds, at least 1, for the lock wait inside MariaDB).
    pub wait: Duration,
    /// After how long an unfinished claim counts as abandoned and may be taken over.
    pub lease: Duration,
}

impl Default for Settings {
    /// The built-in `IDEMPOTENCY_WAIT` and `IDEMPOTENCY_LEASE`, which the services'
    /// command lines also default to.
    fn default() -> Self {
        let parse = |d| crate::config::parse_duration(d).expect("a built-in default parses");
        Self {
            wait: parse(kubestore_core::defaults::IDEMPOTENCY_WAIT),
            lease: parse(kubestore_core::defaults::IDEMPOTENCY_LEASE),
        }
    }
}

/// A claim this request holds: the open transaction that inserted (or took over)
/// the key's row. Dropping it rolls back and frees the key.
#[derive(Debug)]
pub struct Owner {
    key: String,
    token: String,
    /// The transaction the order must be stored in.
    pub tx: Transaction<'static, MySql>,
}

/// Outcome of [`claim`].
#[derive(Debug)]
pub enum Claim {
    /// This request owns the key and must place the order.
    Owned(Owner),
    /// The key already has a stored answer: the first response's body.
    Replay(String),
}

fn new_token() -> String {
    format!("{:032x}", fastrand::u128(..))
}

#[derive(sqlx::FromRow)]
struct Row {
    fingerprint: String,
    owner: String,
    response: Option<String>,
    claimed_at: chrono::NaiveDateTime,
}

/// Claims `key` for a request with `fingerprint`, waiting for a concurrent owner.
pub async fn claim(
    pool: &MySqlPool,
    settings: Settings,
    key: &str,
    fingerprint: &str,
) -> Result<Claim, AppError> {
    let deadline = tokio::time::Instant::now() + settings.wait;
    let lease = TimeDelta::from_std(settings.lease).unwrap_or(TimeDelta::seconds(30));
    // MariaDB's per-statement override; the text is fixed per process, so the
    // prepared statement is cached like any other.
    let insert_sql = format!(
        "SET STATEMENT innodb_lock_wait_timeout = {} FOR \
         INSERT INTO idempotency_keys (idem_key, fingerprint, owner, claimed_at) VALUES (?, ?, ?, ?)",
        settings.wait.as_secs().clamp(1, 3600)
    );
    loop {
        let token = new_token();
        let now = crate::time::now();
        let mut tx = pool.begin().await?;
        // Blocks while another request holds the key uncommitted, at most `wait`.
        let inserted = sqlx::query(AssertSqlSafe(insert_sql.clone()))
            .bind(key)
            .bind(fingerprint)
            .bind(&token)
            .bind(now)
            .execute(&mut *tx)
            .await;
        match inserted {
            Ok(_) => {
                return Ok(Claim::Owned(Owner {
                    key: key.to_owned(),
                    token,
                    tx,
                }));
            }
            Err(e) if is_unique_violation(&e) => {}
            Err(e) if error_number(&e) == Some(ER_LOCK_WAIT_TIMEOUT) => {
                return Err(in_progress());
            }
            Err(e) => return Err(e.into()),
        }
        // The key is committed by someone else. Let go of this transaction (and the
        // shared lock the failed insert took, which would deadlock twins that all
        // wait for the same row) before looking at it.
        tx.rollback().await?;
        let row = sqlx::query_as::<_, Row>(
            "SELECT fingerprint, owner, response, claimed_at FROM idempotency_keys \
             WHERE idem_key = ?",
        )
        .bind(key)
        .fetch_optional(pool)
        .await?;
        if let Some(row) = row {
            if row.fingerprint != fingerprint {
                return Err(reused("request body"));
            }
            if let Some(response) = row.response {
                return Ok(Claim::Replay(response));
            }
            if now - row.claimed_at > lease {
                let mut tx = pool.begin().await?;
                let taken = sqlx::query(
                    "UPDATE idempotency_keys SET owner = ?, claimed_at = ? \
                     WHERE idem_key = ? AND owner = ? AND response IS NULL",
                )
                .bind(&token)
                .bind(now)
                .bind(key)
                .bind(&row.owner)
                .execute(&mut *tx)
                .await?;
                if taken.rows_affected() == 1 {
                    tracing::warn!(key, "took over an abandoned idempotency claim");
                    return Ok(Claim::Owned(Owner {
                        key: key.to_owned(),
                        token,
                        tx,
                    }));
                }
            }
        }
        // No row: its owner rolled back in between and the key is free; the next
        // round claims it.
        if tokio::time::Instant::now() >= deadline {
            return Err(in_progress());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Stores the answer under the claim in the owner's transaction, which also holds
/// what the request made (its id goes to the table's `id_column`, e.g.
/// `order_id`); the caller commits.
pub async fn store(
    owner: &mut Owner,
    id_column: &'static str,
    id: i64,
    response: &str,
) -> Result<(), AppError> {
    let sql = format!(
        "UPDATE idempotency_keys SET {id_column} = ?, response = ? WHERE idem_key = ? AND owner = ?"
    );
    let updated = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .bind(response)
        .bind(&owner.key)
        .bind(&owner.token)
        .execute(&mut *owner.tx)
        .await?;
    if updated.rows_affected() == 1 {
        Ok(())
    } else {
        Err(AppError::internal("the idempotency claim row vanished"))
    }
}

/// How long a service keeps its keys, and the lease of its claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// How long a stored answer is replayed (`IDEMPOTENCY_KEY_TTL`).
    pub ttl: Duration,
    /// The service's [`Settings::lease`]: an unfinished claim younger than it may
    /// belong to a request still running.
    pub lease: Duration,
}

/// Most rows one `DELETE` removes: each statement then holds its locks only
/// briefly, and claims being inserted meanwhile wait at most that long.
const SWEEP_BATCH: u32 = 1000;

/// Bounds of [`Retention::interval`]: more often than once a minute only adds
/// load, less often than hourly lets a long TTL's table grow by over an hour of keys.
const SWEEP_EVERY: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(60)..=Duration::from_secs(3600);

impl Retention {
    /// Time between two sweeps: a 24th of the TTL, so that an answer outlives its
    /// TTL by a small part of it at most.
    pub fn interval(&self) -> Duration {
        (self.ttl / 24).clamp(*SWEEP_EVERY.start(), *SWEEP_EVERY.end())
    }
}

/// Deletes the expired rows of `idempotency_keys`: answers older than the TTL,
/// and unfinished claims older than both the TTL and the lease (abandoned by a
/// process that died), in batches until one is not full. Returns how many went.
pub async fn sweep(pool: &MySqlPool, retention: Retention) -> Result<u64, sqlx::Error> {
    let now = crate::time::now();
    let answered_before = before(now, retention.ttl);
    let abandoned_before = before(now, retention.ttl.max(retention.lease));
    let mut removed = 0;
    loop {
        let batch = sqlx::query(
            "DELETE FROM idempotency_keys \
             WHERE claimed_at < ? AND (response IS NOT NULL OR claimed_at < ?) LIMIT ?",
        )
        .bind(answered_before)
        .bind(abandoned_before)
        .bind(SWEEP_BATCH)
        .execute(pool)
        .await?
        .rows_affected();
        removed += batch;
        if batch < u64::from(SWEEP_BATCH) {
            return Ok(removed);
        }
    }
}

/// `now` less `age`; the earliest time when that is out of range, which keeps
/// every row.
fn before(now: NaiveDateTime, age: Duration) -> NaiveDateTime {
    TimeDelta::from_std(age)
        .ok()
        .and_then(|age| now.checked_sub_signed(age))
        .unwrap_or(NaiveDateTime::MIN)
}

/// Runs [`sweep`] now and then every [`Retention::interval`], forever: the task a
/// service that stores keys runs beside its server, and aborts when the server
/// stops. A failed sweep (the database unreachable) is logged and tried again at
/// the next interval.
pub async fn keep_sweeping(pool: MySqlPool, retention: Retention) {
    let mut ticks = tokio::time::interval(retention.interval());
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match sweep(&pool, retention).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(
                removed,
                ttl = %crate::config::format_duration(retention.ttl),
                "expired idempotency keys removed"
            ),
            Err(e) => tracing::warn!(
                error = %e,
                retry_in = %crate::config::format_duration(retention.interval()),
                "cannot remove expired idempotency keys"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_settings_parse() {
        let s = Settings::default();
        assert_eq!(
            (s.wait, s.lease),
            (Duration::from_secs(10), Duration::from_secs(30))
        );
    }

    fn every(ttl: Duration) -> Duration {
        Retention {
            ttl,
            lease: Duration::from_secs(30),
        }
        .interval()
    }

    #[test]
    fn sweeps_run_a_24th_of_the_ttl_apart_within_a_minute_and_an_hour() {
        assert_eq!(
            every(Duration::from_secs(86_400)),
            Duration::from_secs(3600)
        );
        assert_eq!(every(Duration::from_secs(7200)), Duration::from_secs(300));
        assert_eq!(every(Duration::from_secs(90)), Duration::from_secs(60));
        assert_eq!(
            every(Duration::from_secs(365 * 86_400)),
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn an_age_beyond_the_calendar_keeps_every_row() {
        let now = crate::time::now();
        assert_eq!(before(now, Duration::MAX), NaiveDateTime::MIN);
        assert_eq!(
            before(now, Duration::from_secs(60)),
            now - TimeDelta::seconds(60)
        );
    }
}
