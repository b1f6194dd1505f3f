//! The store's story, told once and run on every backend: SQLite always, and
//! PostgreSQL on a fresh database per test (skipped loudly when PostgreSQL is
//! not reachable, except with `CI=true`, where that fails).
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The tests keep the real clock (and may pause a thread); they move the
// server's clock with `advance_clock`.
#![allow(clippy::disallowed_methods)]

mod audit_chain;
mod changes;
mod credits;
mod deliveries;
mod keys;
mod leaks;
mod lifecycle;
mod operators;
mod passkeys;
mod people;
mod policy;
mod rate_limits;
mod schema;
mod sso;
mod story;
mod two_factor;
mod usage;

use std::sync::Arc;

use keygate_store::Store;
use keygate_store::postgres::PgStore;
use keygate_store::sqlite::SqliteStore;
use keygate_testpg::PgDb;

/// A store on a fresh database, and what keeps that database alive.
pub struct Fresh {
    pub store: Arc<dyn Store>,
    _keep: Keep,
}

#[allow(dead_code)]
enum Keep {
    Dir(TempDir),
    Db(Arc<PgDb>),
}

pub struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub async fn sqlite() -> Fresh {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("keygate-store-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open(&format!("sqlite://{}/k.db", dir.display()))
        .await
        .unwrap();
    Fresh {
        store: Arc::new(store),
        _keep: Keep::Dir(TempDir(dir)),
    }
}

pub async fn postgres(test: &str) -> Option<Fresh> {
    let db = PgDb::create(test).await?;
    let store = PgStore::open(&db.url).await.unwrap();
    Some(Fresh {
        store: Arc::new(store),
        _keep: Keep::Db(db),
    })
}

/// One `#[tokio::test]` per backend for each story function.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let fresh = crate::sqlite().await;
                    crate::story::$name(fresh.store.as_ref(), false).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(fresh) = crate::postgres(concat!("store story on PostgreSQL: ", stringify!($name))).await else {
                        return;
                    };
                    crate::story::$name(fresh.store.as_ref(), true).await;
                }
            )*
        }
    };
}

on_both_backends!(
    a_new_database_is_empty_until_an_organization_is_created,
    users_sessions_and_members_are_kept_per_organization,
    keys_are_stored_as_digests_and_regenerate_bumps_the_generation,
    an_owner_has_at_most_one_admin_key,
    scoped_keys_can_be_edited_and_deleted_but_admin_keys_cannot,
    the_audit_log_pages_newest_first_and_filters_by_key,
    concurrent_regenerates_each_commit_once_with_one_audit_entry,
    changes_are_announced_only_where_other_instances_may_write,
    key_events_queue_deliveries_that_one_claimer_at_a_time_leases,
    concurrent_claimers_never_take_the_same_delivery,
    a_key_event_queues_webhook_deliveries_in_the_order_the_webhooks_are_listed,
    two_factor_codes_and_recovery_codes_work_once,
    passkeys_are_kept_per_user_and_their_challenges_work_once,
    invitations_resets_and_sessions_are_single_use_and_mail_one_person,
    usage_adds_up_and_an_idle_key_is_claimed_once,
    a_leaked_key_is_found_by_digest_and_flagged_or_revoked_once,
    rate_limits_are_kept_on_keys_and_as_an_organization_default,
    a_grace_period_keeps_the_previous_secret_and_each_notice_is_claimed_once,
    allowlists_and_key_policies_are_kept,
    operator_tokens_and_provisioned_orgs_are_kept,
    the_audit_chain_has_no_gap_or_fork_under_concurrent_writers,
    an_audit_stream_is_leased_once_and_moves_on_only_from_where_it_was,
    plans_are_kept_and_a_threshold_is_claimed_once,
    credits_are_settled_and_their_exhaustion_claimed_once,
    sso_settings_claim_each_domain_once_and_a_sign_in_adds_the_member,
);

#[test]
fn both_backends_know_the_same_migration_versions() {
    let sqlite = SqliteStore::migration_versions();
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, PgStore::migration_versions());
}
