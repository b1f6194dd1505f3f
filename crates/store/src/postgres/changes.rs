//! Hearing other instances' changes: one dedicated connection `LISTEN`s on
//! [`CHANNEL`] and turns each notification into a [`Change`].
//!
//! Notifications sent while the connection is down are lost for good, so after
//! every reconnect the feed says [`Change::Resync`] and the cache re-reads
//! everything.
//!
//! Heartbeat: every [`HEARTBEAT`] a small task of this feed sends
//! `pg_notify` on the same channel with a payload only this feed knows
//! (`beat:<nonce>:<sent at, Unix ms>`). PostgreSQL delivers notifications in
//! commit order, so when the listener hears its own beat back, every change
//! committed before the beat was sent has already come through: the feed then
//! says [`Change::CurrentAsOf`] that time. A process that was paused (SIGSTOP,
//! a VM pause) hears no beat until it has read the notices queued meanwhile,
//! so it can tell a current feed from an old one. Beats of other instances on
//! the channel are ignored.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{ConnectOptions, Postgres};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use crate::sql::db;
use crate::{Change, ChangeFeed, Result};

/// The `LISTEN`/`NOTIFY` channel; payloads are `key:<client id>` or
/// `account:<account id>`, `org:<org id>` (and this feed's own heartbeats).
pub const CHANNEL: &str = "keygate_changes";

/// Room for bursts; a full queue makes the listener wait, never drop.
const FEED_CAPACITY: usize = 4096;
const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// How often the feed proves itself current.
pub const HEARTBEAT: Duration = Duration::from_millis(250);
/// A beat that takes longer than this is given up; the next one is sent.
const BEAT_TIMEOUT: Duration = Duration::from_secs(1);

pub(super) fn payload(change: &Change) -> String {
    match change {
        Change::Key(c) => format!("key:{c}"),
        Change::Account(a) => format!("account:{a}"),
        Change::Org(o) => format!("org:{o}"),
        Change::Resync => "resync".to_owned(),
        Change::CurrentAsOf(ms) => format!("beat::{ms}"),
    }
}

enum Notice {
    Change(Change),
    /// Another feed's heartbeat.
    Ignored,
    Unknown,
}

fn parse(payload: &str, nonce: &str) -> Notice {
    let change = if let Some(c) = payload.strip_prefix("key:") {
        c.parse().ok().map(Change::Key)
    } else if let Some(a) = payload.strip_prefix("account:") {
        a.parse().ok().map(Change::Account)
    } else if let Some(o) = payload.strip_prefix("org:") {
        o.parse().ok().map(Change::Org)
    } else if let Some(beat) = payload.strip_prefix("beat:") {
        return match beat.split_once(':') {
            Some((n, ms)) if n == nonce => match ms.parse() {
                Ok(ms) => Notice::Change(Change::CurrentAsOf(ms)),
                Err(_) => Notice::Unknown,
            },
            Some(_) => Notice::Ignored,
            None => Notice::Unknown,
        };
    } else {
        None
    };
    change.map_or(Notice::Unknown, Notice::Change)
}

/// Starts listening before it returns, so a cache loaded after this call
/// misses no change committed after the load began.
pub(super) async fn subscribe(
    options: PgConnectOptions,
    now_ms: fn() -> i64,
) -> Result<ChangeFeed> {
    let listener = connect(&options).await.map_err(db::<Postgres>)?;
    let (tx, rx) = mpsc::channel(FEED_CAPACITY);
    let nonce = keygate_core::crypto::random_base62(16);
    tokio::spawn(beat(options.clone(), nonce.clone(), tx.clone(), now_ms));
    tokio::spawn(run(options, listener, tx, nonce));
    Ok(rx)
}

/// Sends this feed's heartbeat every [`HEARTBEAT`] until nobody follows the
/// feed. Its own connection, so beats never wait for a request's, and never
/// on the listening one (whose reads are not cancel-safe). A tick missed
/// during a pause fires at once when the process resumes.
async fn beat(
    options: PgConnectOptions,
    nonce: String,
    tx: mpsc::Sender<Change>,
    now_ms: fn() -> i64,
) {
    // Four statements a second are not worth a log line each.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(BEAT_TIMEOUT)
        .connect_lazy_with(options.disable_statement_logging());
    let mut every = tokio::time::interval(HEARTBEAT);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if tx.is_closed() {
            return;
        }
        let sent = now_ms();
        let notify = sqlx::query("select pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("beat:{nonce}:{sent}"))
            .execute(&pool);
        match tokio::time::timeout(BEAT_TIMEOUT, notify).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "could not send a change feed heartbeat"),
            Err(_) => tracing::debug!("a change feed heartbeat timed out"),
        }
    }
}

async fn connect(options: &PgConnectOptions) -> std::result::Result<PgListener, sqlx::Error> {
    // Its own pool of one, so the listening connection never takes a slot
    // that requests need.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(3))
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_lazy_with(options.clone());
    let mut listener = PgListener::connect_with(&pool).await?;
    // Reconnecting is done here, so that every reconnect is followed by a Resync.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

async fn run(
    options: PgConnectOptions,
    mut listener: PgListener,
    tx: mpsc::Sender<Change>,
    nonce: String,
) {
    loop {
        let lost = loop {
            match listener.try_recv().await {
                Ok(Some(n)) => match parse(n.payload(), &nonce) {
                    Notice::Change(change) => {
                        if tx.send(change).await.is_err() {
                            return; // nobody follows the feed any more
                        }
                    }
                    Notice::Ignored => {}
                    Notice::Unknown => {
                        tracing::warn!(payload = n.payload(), "unknown change notice ignored");
                    }
                },
                Ok(None) => break "connection closed".to_owned(),
                Err(e) => break e.to_string(),
            }
        };
        tracing::warn!(error = %lost, "lost the PostgreSQL change listener; reconnecting");
        drop(listener);
        let mut wait = RETRY_MIN;
        listener = loop {
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(wait).await;
            match connect(&options).await {
                Ok(l) => break l,
                Err(e) => {
                    tracing::debug!(error = %e, "change listener still cannot connect");
                    wait = (wait * 2).min(RETRY_MAX);
                }
            }
        };
        tracing::info!("PostgreSQL change listener reconnected");
        if tx.send(Change::Resync).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keygate_core::{AccountId, ClientId};

    #[test]
    fn payloads_round_trip() {
        for change in [
            Change::Key(ClientId::generate()),
            Change::Account(AccountId::generate()),
        ] {
            assert!(matches!(parse(&payload(&change), "n"), Notice::Change(c) if c == change));
        }
        assert!(matches!(parse("key:not an id", "n"), Notice::Unknown));
        assert!(matches!(parse("something else", "n"), Notice::Unknown));
    }

    #[test]
    fn only_this_feeds_own_heartbeats_count() {
        assert!(matches!(
            parse("beat:mine:1700000000123", "mine"),
            Notice::Change(Change::CurrentAsOf(1_700_000_000_123))
        ));
        assert!(matches!(parse("beat:theirs:1", "mine"), Notice::Ignored));
        assert!(matches!(parse("beat:mine:x", "mine"), Notice::Unknown));
    }
}
