//! Hearing other instances' changes: one dedicated connection `LISTEN`s on
//! [`CHANNEL`](super::CHANNEL) and turns each notification into a [`Change`].
//!
//! Notifications sent while the connection is down are lost for good, so after
//! every reconnect the feed says [`Change::Resync`] and the cache re-reads
//! everything.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::mpsc;

use super::CHANNEL;
use super::rows::db;
use crate::{Change, ChangeFeed, Result};

/// Room for bursts; a full queue makes the listener wait, never drop.
const FEED_CAPACITY: usize = 4096;
const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);

pub(super) fn payload(change: &Change) -> String {
    match change {
        Change::Key(c) => format!("key:{c}"),
        Change::Account(a) => format!("account:{a}"),
        Change::Resync => "resync".to_owned(),
    }
}

fn parse(payload: &str) -> Option<Change> {
    if let Some(c) = payload.strip_prefix("key:") {
        c.parse().ok().map(Change::Key)
    } else if let Some(a) = payload.strip_prefix("account:") {
        a.parse().ok().map(Change::Account)
    } else {
        None
    }
}

/// Starts listening before it returns, so a cache loaded after this call
/// misses no change committed after the load began.
pub(super) async fn subscribe(options: PgConnectOptions) -> Result<ChangeFeed> {
    let listener = connect(&options).await.map_err(db)?;
    let (tx, rx) = mpsc::channel(FEED_CAPACITY);
    tokio::spawn(run(options, listener, tx));
    Ok(rx)
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

async fn run(options: PgConnectOptions, mut listener: PgListener, tx: mpsc::Sender<Change>) {
    loop {
        let lost = loop {
            match listener.try_recv().await {
                Ok(Some(n)) => match parse(n.payload()) {
                    Some(change) => {
                        if tx.send(change).await.is_err() {
                            return; // nobody follows the feed any more
                        }
                    }
                    None => tracing::warn!(payload = n.payload(), "unknown change notice ignored"),
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
            assert_eq!(parse(&payload(&change)), Some(change));
        }
        assert_eq!(parse("key:not an id"), None);
        assert_eq!(parse("something else"), None);
    }
}
