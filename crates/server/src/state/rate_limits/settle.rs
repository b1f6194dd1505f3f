//! The loops behind the counters: dropping windows that ended, and settling
//! the counts with Redis in batches (see the parent's notes).

use super::*;

/// Drops ended windows every minute until `stop` resolves.
pub async fn sweep_until(limits: Arc<KeyRateLimits>, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(Duration::from_secs(60)) => limits.sweep(now_ms()),
        }
    }
}

/// Instances that settled within this long count as alive.
const ALIVE_MS: i64 = 3_000;
const INSTANCES: &str = "keygate:rl:instances";
/// After a failure, how long until Redis is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// Settles counts with Redis every `SETTLE_EVERY` until `stop` resolves, and
/// once more then, so the counts of this instance's last calls reach the others.
pub async fn settle_until(
    limits: Arc<KeyRateLimits>,
    cfg: redis::RedisConfig,
    stop: impl Future<Output = ()>,
) {
    let instance = keygate_core::crypto::random_base62(16);
    let mut conn: Option<redis::Conn> = None;
    let mut was_healthy = true;
    let mut tick = tokio::time::interval(SETTLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    let mut last = false;
    while !last {
        tokio::select! {
            _ = tick.tick() => {}
            () = &mut stop => last = true,
        }
        let pending = limits.take_pending();
        let result = match conn.as_mut() {
            Some(c) => settle(c, &pending, &instance).await,
            None => match redis::Conn::open(&cfg).await {
                Ok(c) => settle(conn.insert(c), &pending, &instance).await,
                Err(e) => Err(e),
            },
        };
        match result {
            Ok((totals, peers)) => {
                limits.settled(pending, &totals, peers);
                if !was_healthy {
                    tracing::info!(redis = %cfg.address(), peers, "Redis answers again; rate limits hold across instances");
                }
                was_healthy = true;
            }
            Err(e) => {
                limits.unsettled(pending);
                conn = None;
                if was_healthy {
                    tracing::warn!(
                        redis = %cfg.address(),
                        error = %e,
                        "cannot settle rate-limit counts with Redis; limits are per instance until it answers"
                    );
                }
                was_healthy = false;
                if !last {
                    tokio::select! {
                        () = tokio::time::sleep(RETRY) => {}
                        () = &mut stop => last = true,
                    }
                }
            }
        }
    }
}

/// One pipeline: the new counts in, the totals and the live instances out.
async fn settle(
    conn: &mut redis::Conn,
    pending: &[Pending],
    instance: &str,
) -> std::io::Result<(Vec<i64>, u32)> {
    let now = now_ms();
    let mut cmds = Vec::with_capacity(pending.len() * 2 + 3);
    for p in pending {
        let key = p.redis_key();
        cmds.push(redis::cmd(&["INCRBY", &key, &p.delta.to_string()]));
        // A little after the window ends; the name is never reused.
        let ttl = u64::from(p.ends_at).saturating_sub(u64::try_from(now / 1000).unwrap_or(0)) + 10;
        cmds.push(redis::cmd(&["EXPIRE", &key, &ttl.to_string()]));
    }
    cmds.push(redis::cmd(&["ZADD", INSTANCES, &now.to_string(), instance]));
    cmds.push(redis::cmd(&[
        "ZREMRANGEBYSCORE",
        INSTANCES,
        "-inf",
        &(now - ALIVE_MS).to_string(),
    ]));
    cmds.push(redis::cmd(&["ZCARD", INSTANCES]));
    let replies = tokio::time::timeout(redis::TIMEOUT, conn.pipeline(&cmds))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "Redis is too slow"))??;
    let mut totals = Vec::with_capacity(pending.len());
    for pair in replies[..pending.len() * 2].chunks(2) {
        match &pair[0] {
            redis::Reply::Int(n) => totals.push(*n),
            other => return Err(redis::bad(&format!("INCRBY answered {other:?}"))),
        }
    }
    let peers = match replies.last() {
        Some(redis::Reply::Int(n)) => u32::try_from(*n).unwrap_or(1),
        other => return Err(redis::bad(&format!("ZCARD answered {other:?}"))),
    };
    Ok((totals, peers))
}
